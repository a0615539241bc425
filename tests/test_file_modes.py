"""Files written atomically (through a temporary file) get the mode any new file gets, not mkstemp's 0600
(issue 22 item 18: the denoised WAV was written owner-only; checkpoints, metrics logs and the cache too)."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from core.audio.io import AudioWriter
from core.image.cache import ArrayCache
from core.train.checkpoint import save_checkpoint
from core.train.metrics import MetricsLog
from models import build_model


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield 0o640
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_written_files_follow_the_umask(tmp_path, umask_027):
    with AudioWriter(tmp_path / "clean.wav", 16000, 1) as writer:
        writer.write(np.zeros((1, 160), np.float32))
    model = build_model("vae", {"image_shape": [1, 8, 8], "mean": [0.3], "std": [0.3], "latent_dim": 2})
    save_checkpoint(tmp_path / "checkpoint.pt", model)
    MetricsLog(tmp_path / "metrics.jsonl", [{"step": 1}]).close()
    cache = ArrayCache(tmp_path / "cache")
    cache.put("codes", np.zeros(3))
    written = [tmp_path / "clean.wav", tmp_path / "checkpoint.pt", tmp_path / "metrics.jsonl",
               *(tmp_path / "cache").iterdir()]
    assert {p.name: mode(p) for p in written} == {p.name: umask_027 for p in written}
