"""A tiny denoiser trained once per test session on real spoken digits and noise, for the audio tests."""
from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path

from core.audio.dataset import MixConfig
from core.audio.demo import TINY_DENOISER
from core.audio.trainer import AudioRun
from core.loop import TrainConfig

SPEECH_EVERY = 15  # every 15th FSDD file: 134 clips, all four speakers and ten digits
TEST_MIX = MixConfig(segment_s=0.5, snr_db=(-5.0, 5.0))
TEST_TRAINING = TrainConfig(epochs=5, batch_size=8, lr=3e-3, device="cpu", log_every=5, preview_interval_s=1e9)


def speech_subset(shared_data: Path, target: Path, every: int = SPEECH_EVERY) -> Path:
    """Copy every ``every``-th spoken digit into ``target`` (the shared data stays read-only)."""
    target.mkdir(parents=True, exist_ok=True)
    for f in sorted((shared_data / "fsdd").glob("*.wav"))[::every]:
        shutil.copy(f, target / f.name)
    return target


@functools.lru_cache(maxsize=None)
def trained_denoiser(shared_data: Path) -> tuple[Path, list[dict]]:
    """(checkpoint path, every event) of ``audio-dae`` (``TINY_DENOISER``) trained for 5 short epochs on
    an FSDD subset + ../shared/data/noise + the built-in noises; trained once per session."""
    root = Path(tempfile.mkdtemp(prefix="latent-explorer-audio-test-"))
    run = AudioRun("audio-dae", dict(TINY_DENOISER), speech_subset(shared_data, root / "speech"),
                   shared_data / "noise", TEST_MIX, TEST_TRAINING, root / "run")
    events: list[dict] = []
    run.build_trainer(events.append).train()
    return root / "run" / "checkpoint.pt", events
