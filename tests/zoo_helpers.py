"""Tiny configurations of every family and a helper that trains one on a data set into a run folder."""
from __future__ import annotations

from pathlib import Path

from core.trainer import Run, TrainConfig, Trainer, model_config_for

TINY = {
    "ae": {"latent_dim": 4, "hidden": [32]},
    "vae": {"latent_dim": 4, "hidden": [32]},
    "gan": {"latent_dim": 8, "channels": [16, 32]},
    "flow": {"levels": 2, "steps": 2, "hidden": 16},
    "diffusion": {"channels": [16, 32], "sample_steps": 10},
    "latent-diffusion": {"hidden": 64, "depth": 2, "sample_steps": 10},
}


def train_tiny(name: str, data, out_dir: Path, epochs: int, lr: float = 2e-3, source: str = "digits",
               init_state: dict | None = None, **settings) -> tuple[Trainer, Path]:
    """Train a tiny ``name`` for ``epochs``; returns the trainer and its checkpoint path."""
    train_idx, _ = data.split()
    config = model_config_for(name, data, train_idx, **{**TINY[name], **settings})
    trainer = Trainer(Run(name, config, data, source, TrainConfig(epochs=epochs, batch_size=64, lr=lr,
                                                                  preview_interval_s=1e9), Path(out_dir),
                          init_state=init_state))
    trainer.train()
    return trainer, Path(out_dir) / "checkpoint.pt"
