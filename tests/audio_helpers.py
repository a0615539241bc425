"""A small denoiser trained once per test session on real spoken digits and noise, for the audio tests,
and long test recordings of a talker it never heard (FSDD's ``TEST_TALKER``) in held-out noise."""
from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np

from core.audio.dataset import MixConfig, SpeechNoiseData
from core.audio.evaluate import long_recording
from core.audio.io import read_audio
from core.audio.trainer import AudioRun
from core.runs.audio_demo import SHARED_SPEECH
from core.train.checkpoint import load_checkpoint
from core.train.loop import TrainConfig

TEST_TALKER = "lucas"  # the tests' recordings; training uses the other three talkers
SPEECH_EVERY = 4  # every 4th file of the training talkers: 375 clips, all ten digits
TEST_MODEL = {"hidden": 128, "layers": 1}
TEST_MIX = MixConfig(segment_s=2.0, max_val=24, val_s=4.0)
TEST_TRAINING = TrainConfig(epochs=16, batch_size=16, lr=4e-3, device="cpu", log_every=10, preview_interval_s=1e9)


def speech_subset(shared_data: Path, target: Path, every: int = SPEECH_EVERY) -> Path:
    """Copy every ``every``-th spoken digit of the training talkers into ``target`` (the shared data
    stays read-only)."""
    target.mkdir(parents=True, exist_ok=True)
    files = [f for f in sorted((shared_data / "fsdd").glob("*.wav")) if f.stem.split("_")[1] != TEST_TALKER]
    for f in files[::every]:
        shutil.copy(f, target / f.name)
    return target


@functools.lru_cache(maxsize=None)
def trained_denoiser(shared_data: Path) -> tuple[Path, list[dict]]:
    """(checkpoint path, every event) of ``audio-dae`` (``TEST_MODEL``) trained briefly on an FSDD subset
    of three talkers + ../shared/data/noise + the built-in noises; trained once per session."""
    root = Path(tempfile.mkdtemp(prefix="latent-explorer-audio-test-"))
    run = AudioRun("audio-dae", dict(TEST_MODEL), speech_subset(shared_data, root / "speech"),
                   shared_data / "noise", TEST_MIX, TEST_TRAINING, root / "run")
    events: list[dict] = []
    run.build_trainer(events.append).train()
    return root / "run" / "checkpoint.pt", events


@functools.lru_cache(maxsize=None)
def trained_model(shared_data: Path):
    """(the trained denoiser, its data: the same split of speech files and noise as in training)."""
    model, payload = load_checkpoint(trained_denoiser(shared_data)[0])
    state = payload["train_state"]
    data = SpeechNoiseData.load(Path(state["speech_dir"]), shared_data / "noise", model.sample_rate, 1,
                                MixConfig.from_dict(state["mix"]), seed=state["config"]["seed"])
    return model, data


@functools.lru_cache(maxsize=None)
def talker_clips(rate: int) -> tuple[np.ndarray, ...]:
    return tuple(read_audio(f, rate, channels=1)[0][0] for f in sorted(SHARED_SPEECH.glob(f"*_{TEST_TALKER}_*.wav")))


def held_out_recording(data: SpeechNoiseData, noise: str, snr_db: float, seconds: float,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean) (1, T): ``TEST_TALKER`` speaking continuously in the held-out part of ``noise`` (a
    noise file's name or a built-in kind) at ``snr_db``."""
    rng = np.random.default_rng(seed)
    return long_recording(list(talker_clips(data.rate)), data.noise(noise, int(seconds * data.rate), rng, val=True),
                          snr_db, data.rate, rng)
