"""Training an image family: an ``ImageData`` run through the shared loop (``core.train.loop``).

Train rows add ``r2`` (of the reconstructions of the last batch's first ``R2_IMAGES``, for models that
reconstruct); validation rows add it over the validation images validated. Previews show fixed validation
images, their reconstructions and samples from fixed noise, as the model's capabilities allow. In a
distributed run each rank trains on its shard of every epoch's shuffled images.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from models import GenerativeModel, build_model

from ..errors import CheckpointError
from ..train import distributed
from ..train.loop import Batch, Control, TrainConfig, TrainerBase
from ..train.metrics import r2_score
from .data import ImageData
from .model_setup import load_pretrained

PREVIEW_COUNT = 16
R2_IMAGES = 256  # a train row's R² looks at this many images of the batch: its cost stays small at any batch size
FLOAT_CACHE_BYTES = 1 << 30  # data sets up to this size as floats live on the training device


@dataclass
class Run:
    """What an image training run needs: a model spec, the data and its source, and where to write (a
    ``core.train.run.TrainingRun``)."""
    model_name: str
    model_config: dict
    data: ImageData
    dataset_source: str
    config: TrainConfig = field(default_factory=TrainConfig)
    out_dir: Path | None = None
    resume: dict | None = None  # a checkpoint payload to continue from
    init_state: dict | None = None  # weights for part of a fresh model (e.g. a latent diffusion's "base.*")

    unit = "images"

    def describe(self) -> str:
        c, h, w = self.data.image_shape
        return f"{self.data.name} ({len(self.data):,} images, {c}×{h}×{w})"

    def build_trainer(self, on_event: Callable[[dict], None], control: Control | None = None) -> "Trainer":
        return Trainer(self, on_event, control)


class Trainer(TrainerBase):
    unit = "images"
    validation_place = "on the validation images"

    def __init__(self, run: Run, on_event: Callable[[dict], None] = lambda e: None, control: Control | None = None):
        super().__init__(run, on_event, control)
        cfg = self.cfg
        self.train_idx, self.val_idx = run.data.split(cfg.val_fraction, cfg.seed)
        load_pretrained(run.model_config)  # e.g. the perceptual loss's VGG16
        self.model: GenerativeModel = build_model(run.model_name, run.model_config).to(self.device)
        self.optimizers = self.model.configure_optimizers(cfg.lr)
        if run.resume:
            self.restore(run.resume)
        elif run.init_state:
            self._load_initial(run.init_state)
        self._preview_idx = torch.from_numpy(self.val_idx[:PREVIEW_COUNT])
        images = run.data.images
        self._pixels = images.to(self.device).float().div_(255.0) if 4 * images.numel() <= FLOAT_CACHE_BYTES else images
        self._val_ss_tot: dict[int, float] = {}  # the variance of the first N validation images, by N
        self._order: tuple[int, torch.Tensor] | None = None  # (epoch, its shuffled training indices)

    def _load_initial(self, state: dict) -> None:
        """Start from ``state`` for the parameters it names; every name must belong to the model."""
        try:
            unexpected = self.model.load_state_dict(state, strict=False).unexpected_keys
            if unexpected:
                raise RuntimeError(f"no place for {', '.join(unexpected[:3])}")
        except RuntimeError as exc:  # unknown names or wrong shapes
            raise CheckpointError(f"initial weights do not fit model {self.run.model_name!r} "
                                  f"({str(exc).splitlines()[0][:200]})") from exc

    def train_state_extra(self) -> dict:
        return {"val_indices": self.val_idx.tolist()}

    # --- hooks of the loop ----------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        return -(-distributed.shard_length(len(self.train_idx), self.ranks) // self.cfg.batch_size)

    def batch(self, epoch: int, index: int) -> Batch:
        if self._order is None or self._order[0] != epoch:  # the same order again when resumed mid-epoch
            shuffle = torch.Generator().manual_seed(self.cfg.seed + epoch)
            perm = torch.from_numpy(self.train_idx)[torch.randperm(len(self.train_idx), generator=shuffle)]
            self._order = epoch, distributed.shard(perm, self.ranks).to(self._pixels.device)  # no copy per step
        size = self.cfg.batch_size
        return (self._images(self._order[1][index * size:(index + 1) * size]),)

    def step_metrics(self, batch: Batch) -> dict:
        x = batch[0][:R2_IMAGES]
        return {"r2": r2_score(x, self.model.reconstruct(x)) if self.model.capabilities.reconstructs else None}

    def validation_size(self) -> int:
        return len(self.val_idx)

    def validation_sums(self, positions: list[int]) -> dict[str, torch.Tensor]:
        """Example-weighted sums of the loss components and the squared reconstruction error, on the device."""
        sums: dict[str, torch.Tensor] = {}
        reconstructs = self.model.capabilities.reconstructs
        for chunk in torch.from_numpy(self.val_idx[positions]).split(max(self.cfg.batch_size, 256)):
            x = self._images(chunk)
            for k, v in self.model.loss(x).items():
                sums[k] = sums.get(k, 0) + v.detach().float() * len(x)
            if reconstructs:  # float32: MPS has no float64
                sums["ss_res"] = sums.get("ss_res", 0) + (x - self.model.reconstruct(x)).pow(2).sum()
        return sums

    def validation_row(self, sums: dict[str, float], count: int) -> dict:
        """Loss components and R² (variance-weighted, as ``metrics.r2_score``) over the first ``count``
        validation images."""
        ss_res = sums.pop("ss_res", None)
        out = {k: v / count for k, v in sums.items()}
        ss_tot = self._ss_tot(count)
        out["r2"] = 1.0 - ss_res / ss_tot if ss_res is not None and ss_tot > 0 else None
        return out

    def _ss_tot(self, count: int) -> float:
        """Summed squared deviation from their mean of the first ``count`` validation images (computed once
        per count: they never change)."""
        if count not in self._val_ss_tot:
            x = self._images(torch.from_numpy(self.val_idx[:count])).cpu().double()
            self._val_ss_tot[count] = float((x - x.mean(0)).pow(2).sum())
        return self._val_ss_tot[count]

    def preview(self) -> None:
        """Reconstructions of fixed validation images and samples from fixed noise, as uint8 grids."""
        grids = preview_grids(self.model, self._images(self._preview_idx), self.cfg.seed)
        self.on_event({"type": "preview", "epoch": self.epoch, "step": self.step, **grids})

    def _images(self, idx: torch.Tensor) -> torch.Tensor:
        """Images ``idx`` as floats in [0, 1] on the training device (from the float cache, or sent as bytes)."""
        x = self._pixels.index_select(0, idx.to(self._pixels.device))
        return x if x.is_floating_point() else x.to(self.device, non_blocking=True).float().div_(255.0)


@torch.no_grad()
def preview_grids(model: GenerativeModel, x: torch.Tensor, seed: int) -> dict[str, np.ndarray]:
    """What the Training panel shows of a model (in eval mode): the images ``x`` (floats in [0, 1] on its
    device) and their reconstructions if it reconstructs, and PREVIEW_COUNT samples from noise seeded by
    ``seed`` if it samples; uint8 arrays (N, C, H, W) under 'original', 'reconstruction', 'samples'."""
    grids = {}
    if model.capabilities.reconstructs:
        grids = {"original": x, "reconstruction": model.reconstruct(x)}
    if model.capabilities.samples:
        grids["samples"] = model.sample(PREVIEW_COUNT, generator=torch.Generator(model.device).manual_seed(seed))
    return {k: (v.clamp(0, 1) * 255).round().byte().cpu().numpy() for k, v in grids.items()}
