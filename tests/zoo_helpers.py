"""Helpers that make run folders: a family trained at its tiny settings on a data set, or left untrained."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core.image.trainer import Run, Trainer
from core.runs.recipe import image_config
from core.train.checkpoint import save_checkpoint
from core.train.loop import TrainConfig
from models import build_model, family

HISTORY = [{"step": 10, "time": 100.0}, {"step": 20, "time": 101.0}]  # 0.1 s a step: 2 s of training


def train_tiny(name: str, data, out_dir: Path, epochs: int, lr: float = 2e-3, source: str = "digits",
               init_state: dict | None = None, derived: dict | None = None, **settings) -> tuple[Trainer, Path]:
    """Train ``name`` at its tiny settings for ``epochs``; returns the trainer and its checkpoint path.
    ``derived``/``init_state``: a latent diffusion's base, as ``base_model_setup`` makes them."""
    train_idx, _ = data.split()
    config = image_config(name, data, train_idx, derived, **{**family(name).tiny, **settings})
    trainer = Trainer(Run(name, config, data, source, TrainConfig(epochs=epochs, batch_size=64, lr=lr,
                                                                  preview_interval_s=1e9), Path(out_dir),
                          init_state=init_state))
    trainer.train()
    return trainer, Path(out_dir) / "checkpoint.pt"


def untrained(name: str, data, folder: Path, dataset: str = "digits") -> Path:
    """A run folder with the checkpoint of an untrained model at its tiny settings for ``data``, as if trained on
    ``dataset`` for 2 s: quick to make, and it samples (noise)."""
    torch.manual_seed(0)
    model = build_model(name, image_config(name, data, np.arange(len(data)), **family(name).tiny)).eval()
    return save_checkpoint(Path(folder) / "checkpoint.pt", model, train_state={"dataset": dataset}, history=HISTORY)
