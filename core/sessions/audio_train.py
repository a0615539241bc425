"""The Audio panel's Train tab, headless: the training form of the audio families (their declared settings,
like the image families' Setup form, plus the speech and noise to mix), and "learn my voice": record the user
from the microphone (or take files), fine-tune the model in use on that voice mixed with noise, score it
before and after on the recordings' held-out last part, and make the new model the live one.

Part of ``AudioSession`` (``session.train``); it tells the views "train" and "voice".
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from core.audio.dataset import MixConfig
from core.audio.finetune import MIN_SECONDS, Voice, finetune_run, voice_gain
from core.audio.io import resample, write_audio
from core.audio.noise import BUILTIN_NOISES
from core.audio.record import Recorder
from core.audio.trainer import AUDIO_TRAIN_DEFAULTS
from core.errors import AudioDeviceError, LatentExplorerError
from core.runs.audio_demo import SHARED_NOISE, SHARED_SPEECH
from core.runs.recipe import audio_run, train_config
from core.train.checkpoint import load_for
from models import SettingError, SettingSpec, family, names

from . import Work
from .setup import labelled

VOICE_MINUTES = (1.0, 3.0)  # what to record: at least, and a good amount
RECORD_MAX_S = 600.0
VOICE_HINT = ("Record a minute or more of your voice (or add recordings of it): fine-tuning the denoiser on it takes a "
              "few CPU minutes.")


class AudioTrainSession:
    def __init__(self, audio):
        self.audio = audio
        self.family = names("audio")[0]
        self._typed: dict[str, dict[str, Any]] = {}  # family -> setting -> value as typed
        self.speech = str(SHARED_SPEECH) if SHARED_SPEECH.is_dir() else ""
        self.noise = str(SHARED_NOISE) if SHARED_NOISE.is_dir() else ""
        self.builtin = set(BUILTIN_NOISES)
        self.snr_db = MixConfig.snr_db
        self.epochs, self.batch_size = AUDIO_TRAIN_DEFAULTS["epochs"], AUDIO_TRAIN_DEFAULTS["batch_size"]
        # learn my voice
        self.recordings: list[Path] = []
        self.recorder: Recorder | None = None
        self.voice_text = VOICE_HINT
        self.scores: tuple[float, float] | None = None  # held-out SI-SDR improvement before, after (dB)
        self.finetune_epochs: int | None = None  # None: a few CPU minutes (``core.audio.finetune``)
        self._voice: Voice | None = None
        self._base = None  # the model fine-tuning started from

    # --- the form -----------------------------------------------------------------------------
    @staticmethod
    def families() -> list[tuple[str, str]]:
        """(name, one line) of every audio family."""
        return [(n, f"{n} — {'streams live' if family(n).capabilities.streams else 'offline only'}")
                for n in names("audio")]

    def specs(self, name: str | None = None) -> list[SettingSpec]:
        """The settings the user sets of family ``name`` (None: the chosen family)."""
        return family(name or self.family).specs(editable_only=True)

    def set_family(self, name: str) -> None:
        self.family = name
        self.audio._changed("family")

    def value(self, setting: str) -> Any:
        typed = self._typed.get(self.family, {})
        return typed[setting] if setting in typed else next(s.default for s in self.specs() if s.name == setting)

    def set_value(self, setting: str, value: Any) -> None:
        self._typed.setdefault(self.family, {})[setting] = value
        self.audio._changed("train")

    def _settings(self) -> tuple[dict[str, Any], dict[str, str]]:
        """(the family's settings that are valid, as values; those that are not -> why)."""
        values, problems = {}, {}
        for spec in self.specs():
            raw = self.value(spec.name)
            try:
                values[spec.name] = spec.parse(raw) if isinstance(raw, str) else spec.check(raw)
            except SettingError as exc:
                problems[spec.name] = labelled(spec, exc)
        return values, problems

    def problems(self) -> dict[str, str]:
        """Field -> why it is not valid (a setting's name, "speech", "noise", "snr"); empty: Train can go."""
        out = self._settings()[1]
        if not self.speech.strip():
            out["speech"] = "Choose a folder of clean speech"
        if not self.noise.strip() and not self.builtin:
            out["noise"] = "Choose a noise folder or at least one built-in noise"
        if self.snr_db[0] > self.snr_db[1]:
            out["snr"] = "The lowest SNR is above the highest"
        return out

    def build_run(self, out_dir: Path):
        """The run Train starts (``LatentExplorerError`` naming the first problem)."""
        problems = self.problems()
        if problems:
            raise LatentExplorerError(next(iter(problems.values())))
        mix = MixConfig(snr_db=tuple(self.snr_db), builtin=tuple(b for b in BUILTIN_NOISES if b in self.builtin))
        config = train_config(self.family, epochs=int(self.epochs), batch_size=int(self.batch_size))
        noise = self.noise.strip()
        return audio_run(self.family, self._settings()[0], Path(self.speech.strip()), Path(noise) if noise else None,
                         mix, config, out_dir)

    # --- learn my voice: recordings ---------------------------------------------------------------
    @property
    def recording(self) -> bool:
        return self.recorder is not None

    def recorded_s(self) -> float:
        return self.recorder.seconds if self.recorder is not None else 0.0

    def start_recording(self) -> bool:
        """Record the Live tab's input device at its rate; False (and a message) if it cannot."""
        audio = self.audio
        if self.recording or audio.input is None or audio.running:
            self._says("Choose an input device in the Live tab (and stop live audio) to record your voice."
                       if audio.input is None or audio.running else self.voice_text)
            return False
        try:
            self.recorder = Recorder(audio.input, audio.config.rate, RECORD_MAX_S).start()
        except AudioDeviceError as exc:
            self._says(str(exc))
            return False
        self._says(f"Recording… read aloud for {VOICE_MINUTES[0]:.0f}–{VOICE_MINUTES[1]:.0f} minutes (at least "
                   f"{MIN_SECONDS:.0f} s), as you talk in calls.")
        return True

    def stop_recording(self, folder: Path) -> Path | None:
        """Stop and keep the recording as a WAV in ``folder`` (at the model's rate); its path."""
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return None
        wave = recorder.stop()
        if wave.shape[1] < recorder.rate:
            self._says("That recording was shorter than a second; it was not kept.")
            return None
        rate = self.audio.model.sample_rate if self.audio.model is not None else recorder.rate
        path = write_audio(folder / f"voice-{time.strftime('%Y%m%d-%H%M%S')}.wav",
                           resample(wave, recorder.rate, rate), rate)
        self.add_recordings([path])
        return path

    def add_recordings(self, paths: list[Path]) -> None:
        self.recordings += [Path(p) for p in paths if Path(p) not in self.recordings]
        self._says(f"{len(self.recordings)} recording(s) of your voice; fine-tuning holds out the last 20 % of each "
                   "to score the result.")

    def clear_recordings(self) -> None:
        self.recordings, self.scores = [], None
        self._says(VOICE_HINT)

    def _says(self, text: str) -> None:
        self.voice_text = text
        self.audio._changed("voice")

    # --- learn my voice: fine-tuning ------------------------------------------------------------
    def finetune_problem(self) -> str:
        if self.audio.model is None or self.audio.model_path is None:
            return "Open a denoiser first (the shipped one opens at start)"
        if not self.audio.model.capabilities.streams:
            return "Fine-tuning starts from a streaming denoiser (audio-dae)"
        if not self.recordings:
            return "Record your voice or add recordings first"
        return ""

    def finetune(self, out_dir: Path) -> Work:
        """The Work that prepares the fine-tuning run (reads the recordings and writes their training part off the
        UI thread); its result is the run to start. When it has ended, ``score`` its checkpoint."""
        problem = self.finetune_problem()
        if problem:
            raise LatentExplorerError(problem)
        model, base_path = self.audio.model, self.audio.model_path
        self._base, self.scores = model, None
        self._says("Preparing your recordings…")
        return Work("preparing your recordings", _prepare,
                    (list(self.recordings), model.sample_rate, base_path, out_dir, self.finetune_epochs), self._prepared)

    def _prepared(self, result):
        self._voice, run = result
        self._says("Fine-tuning on your voice… (curves in the Training panel)")
        return run

    def score(self, checkpoint: Path) -> Work:
        """Scores the fine-tuned model and the one it started from on the held-out part of the voice; ``apply``
        makes the new model the live one."""
        self._says("Scoring before and after on the held-out part of your recordings…")
        return Work("scoring", _before_after, (self._base, Path(checkpoint), self._voice),
                    lambda result: self._scored(Path(checkpoint), *result))

    def _scored(self, checkpoint: Path, model, before: float, after: float) -> None:
        self.scores = (before, after)
        self.audio.set_model(model, checkpoint)
        self._says(f"On the held-out 20 % of your recordings in noise: {before:+.1f} dB before, {after:+.1f} dB "
                   f"after fine-tuning. The fine-tuned model is now the live one.")


def _prepare(recordings: list[Path], rate: int, base: Path, out_dir: Path, epochs: int | None):
    voice = Voice.from_files(recordings, rate)
    return voice, finetune_run(voice, out_dir, base=base, epochs=epochs)


def _before_after(base, checkpoint: Path, voice: Voice) -> tuple[Any, float, float]:
    model = load_for(checkpoint, "denoises")[0]
    return model, voice_gain(base, voice), voice_gain(model, voice)
