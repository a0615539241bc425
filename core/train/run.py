"""The one shape of a training run, whatever it trains (``core.image.trainer.Run``, ``core.audio.trainer.AudioRun``):
what the loop, the worker thread and the training session read of it."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

from .loop import Control, TrainConfig, TrainerBase


@runtime_checkable
class TrainingRun(Protocol):
    model_name: str
    model_config: dict
    config: TrainConfig
    out_dir: Path | None  # the run folder (None: nothing is written)
    resume: dict | None  # a checkpoint payload to continue from
    unit: str  # what one training example is, for rates: 'images', 'clips'

    @property
    def dataset_source(self) -> str:
        """What it trains on, as a checkpoint records it (a data set's name or path, a speech folder)."""

    def describe(self) -> str:
        """What it trains on, in a few words."""

    def build_trainer(self, on_event: Callable[[dict], None], control: Control | None = None) -> TrainerBase:
        """The trainer that trains it."""
