"""Learn my voice: fine-tune the shipped denoiser on a user's own recordings, with a before/after figure.

The voice (wav/flac files, or one array and its rate) is split in time: the first 80 % is for training,
the last ``HELD_OUT`` 20 % is never trained on and scores the model before and after. The training part is
written as short files into ``out_dir/voice/`` and mixed with noise as any denoiser run is (a noise folder
if given, else the built-in generated noises, without babble: the only talker at hand is the user), by the
normal audio run, so the worker, the training panel's curves and its Stop button work as for any run::

    voice = Voice.from_files([Path("me1.wav"), Path("me2.wav")])   # or Voice.from_array(wave, rate)
    run = finetune_run(voice, out_dir)              # an AudioRun that starts from the shipped weights
    TrainingWorker(run).start() ...                 # (core.runs.worker) -> out_dir/checkpoint.pt
    before = voice_gain(load_default_denoiser()[0], voice)
    after = voice_gain(load_checkpoint(out_dir / "checkpoint.pt")[0], voice)

``voice_gain`` is the mean SI-SDR improvement (dB) on the held-out part of the voice mixed with held-out
noise at 0, 5 and 10 dB (the same mixtures for every model: they are drawn from a fixed seed).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models.audio_dae import AudioModel

from ..errors import DataError
from ..train.checkpoint import load_for
from ..train.loop import TrainConfig
from .dataset import NOISE_VAL_FRACTION, MixConfig, SpeechNoiseData
from .io import read_audio, read_folder, resample, write_audio
from .metrics import si_sdr
from .noise import BUILTIN_NOISES, builtin_noise, crop, mix_at_snr
from .offline import denoise_wave
from .pretrained import default_denoiser_path

HELD_OUT = 0.2  # the last share of the voice, kept for the before/after figure
MIN_SECONDS = 10.0
PIECE_S = 4.0  # the training part is written as pieces of this length
GENERATED = tuple(k for k in BUILTIN_NOISES if k != "babble")  # noises that need no data (and no other talker)
SCORE_SNRS = (0.0, 5.0, 10.0)
FINETUNE_MIX = MixConfig(segment_s=3.0, val_fraction=0.2, max_val=8, val_s=4.0)
FINETUNE_TRAINING = TrainConfig(epochs=60, batch_size=8, lr=5e-4, seed=0, device="cpu", log_every=10,
                                preview_interval_s=5.0)
TARGET_STEPS = 300  # about two CPU minutes for the default model


@dataclass
class Voice:
    """A user's voice at ``rate`` (the model's), mono float32: ``train`` (the first 80 %) and ``held_out``."""
    train: np.ndarray
    held_out: np.ndarray
    rate: int

    @classmethod
    def from_array(cls, wave: np.ndarray, rate: int, model_rate: int = 16000) -> "Voice":
        """One recording, (T,) or (C, T) at ``rate`` (channels are averaged)."""
        wave = np.asarray(wave, dtype=np.float32)
        wave = resample(wave.reshape(-1, wave.shape[-1]).mean(0), rate, model_rate)
        seconds = len(wave) / model_rate
        if seconds < MIN_SECONDS:
            raise DataError(f"{seconds:.1f} s of voice is too little to learn from: record at least {MIN_SECONDS:g} s")
        if not np.abs(wave).max() > 1e-4:
            raise DataError("the recording is silent: check the microphone's input level")
        cut = int(len(wave) * (1 - HELD_OUT))
        return cls(wave[:cut], wave[cut:], model_rate)

    @classmethod
    def from_files(cls, paths: list[Path], model_rate: int = 16000) -> "Voice":
        """Recordings one after another (each read at ``model_rate``, mono)."""
        if not paths:
            raise DataError("choose at least one recording of your voice")
        return cls.from_array(np.concatenate([read_audio(Path(p), model_rate, channels=1)[0][0] for p in paths]),
                              model_rate, model_rate)

    def write_training_part(self, folder: Path) -> Path:
        """The training part as ``PIECE_S`` pieces in ``folder`` (replacing earlier ones); returns ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("voice-*.wav"):
            old.unlink()
        step = int(PIECE_S * self.rate)
        for i, start in enumerate(range(0, len(self.train), step)):
            piece = self.train[start:start + step]
            if len(piece) >= self.rate // 2:
                write_audio(folder / f"voice-{i:04d}.wav", piece[None], self.rate)
        return folder


def finetune_run(voice: Voice, out_dir: Path, noise_dir: Path | None = None, base: Path | None = None,
                 epochs: int | None = None, config: TrainConfig = FINETUNE_TRAINING):
    """The ``AudioRun`` that fine-tunes ``base`` (default: the shipped denoiser) on ``voice`` mixed with noise,
    writing to ``out_dir`` (its checkpoint: ``out_dir/checkpoint.pt``). ``epochs``: default about
    ``TARGET_STEPS`` steps (a few CPU minutes). Run it as any run: ``run.build_trainer(on_event).train()`` or
    ``core.runs.worker.TrainingWorker(run)``."""
    from .trainer import AudioRun  # (the trainer imports torch's training loop: only when a run is made)
    base = Path(base) if base is not None else default_denoiser_path()
    model, payload = load_for(base, "denoises")
    if not model.capabilities.streams:
        raise DataError(f"{base}: {model.name} cannot stream; fine-tune a live denoiser (audio-dae)")
    if model.sample_rate != voice.rate:
        raise DataError(f"the voice is at {voice.rate} Hz but {base} works at {model.sample_rate} Hz")
    out_dir = Path(out_dir)
    speech = voice.write_training_part(out_dir / "voice")
    mix = dataclasses.replace(FINETUNE_MIX, builtin=() if noise_dir else GENERATED)
    if epochs is None:
        steps = SpeechNoiseData.load(speech, None, voice.rate, model.channels, dataclasses.replace(mix, builtin=GENERATED))\
            .batches_per_epoch(config.batch_size)
        epochs = max(1, round(TARGET_STEPS / steps))
    return AudioRun(model.name, payload["model"]["config"], speech, Path(noise_dir) if noise_dir else None, mix,
                    dataclasses.replace(config, epochs=epochs), out_dir, init_state=payload["state_dict"])


def held_out_mixtures(voice: Voice, noise_dir: Path | None = None, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(noisy, clean) pairs, each (1, T): the held-out voice in each held-out noise (the held-out ends of a
    noise folder's files, as training splits them, else the generated noises) at each of ``SCORE_SNRS``; the
    same for every call with the same arguments."""
    rng = np.random.default_rng([seed, 18])
    clean = voice.held_out[None]
    n = clean.shape[1]
    if noise_dir is not None:
        noises = [w[int(len(w) * (1 - NOISE_VAL_FRACTION)):] for w in read_folder(Path(noise_dir), voice.rate, "noise")[1]]
        noises = [crop(w, n, rng) for w in noises]
    else:
        noises = [builtin_noise(kind, n, voice.rate, rng, []) for kind in GENERATED]
    return [(mix_at_snr(torch.from_numpy(clean), torch.from_numpy(noise[None]), torch.tensor([snr])).numpy(), clean)
            for noise in noises for snr in SCORE_SNRS]


def voice_gain(model: AudioModel, voice: Voice, noise_dir: Path | None = None, seed: int = 0) -> float:
    """Mean SI-SDR improvement (dB) of ``model`` on ``held_out_mixtures``: the before/after figure."""
    gains = [float(si_sdr(denoise_wave(model, noisy), clean).mean() - si_sdr(noisy, clean).mean())
             for noisy, clean in held_out_mixtures(voice, noise_dir, seed)]
    return float(np.mean(gains))
