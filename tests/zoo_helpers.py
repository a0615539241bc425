"""A helper that trains a family at its tiny settings on a data set into a run folder."""
from __future__ import annotations

from pathlib import Path

from core.loop import TrainConfig
from core.recipe import image_config
from core.trainer import Run, Trainer
from models import family

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
