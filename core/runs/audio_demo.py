"""A denoiser trained for a few seconds and a demo recording: for ``--screenshot``, tests and the first
look at the live view. They want *a* working denoiser, not a good one."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from models import family
from models.audio_dae import AudioModel

from ..audio.dataset import MixConfig, SpeechNoiseData
from ..audio.evaluate import long_recording
from ..train.loop import TrainConfig
from .quicktrain import train_for
from .recipe import audio_run

#: The spoken digits and noise next to the repository (``../shared/data``), for machines with no internet.
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
SHARED_SPEECH, SHARED_NOISE = SHARED_DATA / "fsdd", SHARED_DATA / "noise"
#: Small enough to learn something in seconds on one CPU core.
TINY_DENOISER = family("audio-dae").tiny
QUICK_MIX = MixConfig(segment_s=2.0, snr_db=(-5.0, 10.0), max_val=40, val_s=4.0)
QUICK_TRAINING = TrainConfig(epochs=1000, batch_size=8, lr=3e-3, device="cpu", log_every=5)


def train_briefly(speech_dir: Path, noise_dir: Path | None, seconds: float = 10.0, mix: MixConfig = QUICK_MIX,
                  config: TrainConfig = QUICK_TRAINING, model_config: dict | None = None,
                  out_dir: Path | None = None) -> AudioModel:
    """Train ``audio-dae`` (``TINY_DENOISER`` unless ``model_config``) until ``seconds`` or the epochs run
    out; returns the model in eval mode on the CPU."""
    run = audio_run("audio-dae", dict(TINY_DENOISER if model_config is None else model_config), speech_dir,
                    noise_dir, mix, config, out_dir)
    return train_for(run, seconds)


def demo_mixture(data: SpeechNoiseData, seconds: float = 4.0, snr_db: float = 0.0, noise: str | None = None,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean), mono float32 (1, T) at ``data.rate``: held-out utterances spoken one after another,
    under held-out noise (``noise``: a noise file's name or a built-in kind; default the first) at ``snr_db``."""
    rng = np.random.default_rng(seed)
    noise_wave = data.noise(noise or data.noise_kinds[0], int(seconds * data.rate), rng, val=True)
    return long_recording(data.val_speech, noise_wave, snr_db, data.rate, rng)
