"""Demo models for Compare: one small model of each kind that samples, trained for a few seconds each."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from models import family

from ..errors import Cancelled
from ..image.classifier import Progress
from ..image.data import ImageData
from ..train.loop import TrainConfig
from .quicktrain import train_briefly

#: The families ``train_demo_zoo`` trains by default, one of each kind that samples, and for how long each.
DEMO_FAMILIES, DEMO_SECONDS = ("vae", "gan", "flow", "diffusion"), 6.0


def train_demo_zoo(data: ImageData, data_source: str, folder: Path, families: tuple[str, ...] | None = None,
                   progress: Progress = lambda m, f: None,
                   cancelled: Callable[[], bool] = lambda: False) -> list[Path]:
    """Train each of ``families`` (default ``DEMO_FAMILIES``), at its ``tiny`` settings and its learning rate, for
    a few seconds into ``folder/<name>`` (replacing the demo runs kept there): something to compare for
    demos and ``--screenshot``; returns the checkpoints. ``cancelled`` is asked before each model (``Cancelled``)."""
    paths, families = [], families or DEMO_FAMILIES
    for i, name in enumerate(families):
        if cancelled():
            raise Cancelled()
        fam = family(name)
        progress(f"training a {name} for {DEMO_SECONDS:g} s", i / len(families))
        config = TrainConfig(epochs=1000, lr=fam.lr, device="cpu", preview_interval_s=1e9)
        train_briefly(data, data_source, name, DEMO_SECONDS, config, Path(folder) / name, overwrite=True, **fam.tiny)
        paths.append(Path(folder) / name / "checkpoint.pt")
    return paths
