"""The training loop: runs any ``GenerativeModel`` on an ``ImageData`` and streams events.

The loop itself knows nothing of threads or Qt: it calls ``on_event(dict)`` for every logged step,
validation pass, preview and state change, and checks ``control`` between steps for pause/stop.
``core.worker`` runs it in a background thread; the CLI runs it in the foreground.

Event types: ``metrics`` (also written to ``metrics.jsonl``), ``preview`` (image grids), ``state``,
``checkpoint``. Every ``metrics`` row has ``step``, ``epoch``, ``split``, ``loss``, ``r2`` (None for models
that do not reconstruct) and one key per loss component.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from models import MODELS, GenerativeModel, build_model

from .checkpoint import save_checkpoint
from .data import ImageData
from .device import pick_device, training_threads
from .errors import CheckpointError, TrainingError
from .metrics import MetricsLog, r2_score
from .model_setup import load_pretrained

PREVIEW_COUNT = 16
FLOAT_CACHE_BYTES = 1 << 30  # data sets up to this size as floats live on the training device


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    val_fraction: float = 0.1
    seed: int = 0
    device: str = "auto"
    log_every: int = 50  # steps between train metrics rows (each costs one extra forward pass for R²)
    preview_interval_s: float = 1.5  # least time between preview grids during an epoch
    checkpoint_interval_s: float = 10.0  # least time between end-of-epoch checkpoints (the last epoch always saves)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class Control:
    """Pause / resume / stop flags shared between the training loop and whoever drives it."""

    def __init__(self):
        self._running = threading.Event()
        self._running.set()
        self.stop_requested = False

    def pause(self):
        self._running.clear()

    def resume(self):
        self._running.set()

    def stop(self):
        self.stop_requested = True
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_if_paused(self) -> None:
        self._running.wait()


@dataclass
class Run:
    """What a training run needs: a model spec, the data and its source, and where to write."""
    model_name: str
    model_config: dict
    data: ImageData
    dataset_source: str
    config: TrainConfig = field(default_factory=TrainConfig)
    out_dir: Path | None = None
    resume: dict | None = None  # a checkpoint payload to continue from
    init_state: dict | None = None  # weights for part of a fresh model (e.g. a latent diffusion's "base.*")

    def build_trainer(self, on_event: Callable[[dict], None], control: "Control | None" = None) -> "Trainer":
        """The loop for this kind of run (``core.audio`` runs build their own)."""
        return Trainer(self, on_event, control)


def family_lr(name: str) -> float:
    """The learning rate a family trains well with: its class's ``default_lr``, else the trainer's default."""
    return getattr(MODELS[name][0], "default_lr", TrainConfig.lr)


def model_config_for(name: str, data: ImageData, train_idx: np.ndarray, **overrides) -> dict:
    """The model config for ``data``: its image shape and normalisation statistics, plus overrides."""
    mean, std = data.channel_stats(torch.from_numpy(train_idx))
    return {"image_shape": list(data.image_shape), "mean": mean, "std": std, **overrides}


class TrainerBase:
    """What every trainer shares: resuming from a checkpoint, atomic saves of finite weights, the metrics
    log, and the NaN guard. Subclasses set ``run``, ``cfg``, ``model``, ``optimizers``, ``on_event``,
    ``history``, ``log``, the counters ``epoch``/``step``/``epoch_step``, and add ``_train_state_extra``."""

    def _restore(self, payload: dict) -> None:
        try:
            self.model.load_state_dict(payload["state_dict"])
            for name, state in payload.get("optimizers", {}).items():
                if name in self.optimizers:
                    self.optimizers[name].load_state_dict(state)
        except (KeyError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"the checkpoint does not fit model {self.run.model_name!r} "
                                  f"({str(exc).splitlines()[0][:200]})") from exc
        ts = payload.get("train_state", {})
        self.epoch, self.step, self.epoch_step = (int(ts.get(k, 0)) for k in ("epoch", "step", "epoch_step"))
        self.history = list(payload.get("history", []))

    @property
    def checkpoint_path(self) -> Path | None:
        return self.run.out_dir / "checkpoint.pt" if self.run.out_dir else None

    def _train_state_extra(self) -> dict:
        """What this kind of run needs besides the counters to be resumed (its data, its split)."""
        return {}

    def save(self, path: Path | None = None) -> Path | None:
        """Write a checkpoint (atomically); refuses weights that are no longer finite, keeping the old file."""
        path = path or self.checkpoint_path
        if path is None:
            return None
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            raise TrainingError(f"the weights stopped being finite numbers at step {self.step}; not saved. "
                                "Try a lower learning rate")
        train_state = {"epoch": self.epoch, "step": self.step, "epoch_step": self.epoch_step,
                       "config": asdict(self.cfg), "dataset": self.run.dataset_source, **self._train_state_extra()}
        save_checkpoint(path, self.model, self.optimizers, train_state, self.history)
        self.on_event({"type": "checkpoint", "path": str(path)})
        return path

    def _emit_metrics(self, row: dict) -> None:
        self.history.append(row)
        if self.log:
            self.log.write(row)
        self.on_event({"type": "metrics", **row})

    def _obey_control(self, running: dict) -> str:
        """Between steps: wait out a pause (``resumed``), or save and end on a stop (``stopped``); else ''."""
        resumed = ""
        if self.control.paused:
            self.on_event({"type": "state", "state": "paused"})
            self.control.wait_if_paused()
            self.on_event(running)
            resumed = "resumed"
        if self.control.stop_requested:
            self.save()
            self.on_event({"type": "state", "state": "stopped"})
            return "stopped"
        return resumed

    def _end_epoch(self, val: dict, where: str, total_steps: int, last_save: float) -> float:
        """Log the validation row of the epoch just done (NaN-checked) and save a checkpoint when the run
        ends or the checkpoint interval has passed; returns the time of the last save."""
        self._check_finite(val["total"], f"{where} in epoch {self.epoch}")
        self._emit_metrics({"step": self.step, "epoch": float(self.epoch), "split": "val",
                            "loss": val.pop("total"), "r2": val.pop("r2", None), **val,
                            "progress": self.step / total_steps, "time": time.time()})
        if self.epoch == self.cfg.epochs or time.perf_counter() - last_save >= self.cfg.checkpoint_interval_s:
            self.save()
            return time.perf_counter()
        return last_save

    def _check_finite(self, loss: float, where: str) -> None:
        if not math.isfinite(loss):
            last = self.checkpoint_path
            raise TrainingError(f"the loss became {loss} {where}; stopped. Try a lower learning rate"
                                + (f"; the last good checkpoint is {last}" if last and last.exists() else ""))


class Trainer(TrainerBase):
    def __init__(self, run: Run, on_event: Callable[[dict], None] = lambda e: None, control: Control | None = None):
        self.run = run
        self.cfg = run.config
        self.on_event = on_event
        self.control = control or Control()
        self.device = pick_device(self.cfg.device)
        torch.manual_seed(self.cfg.seed)
        self.train_idx, self.val_idx = run.data.split(self.cfg.val_fraction, self.cfg.seed)
        load_pretrained(run.model_config)  # e.g. the perceptual loss's VGG16
        self.model: GenerativeModel = build_model(run.model_name, run.model_config).to(self.device)
        self.optimizers = self.model.configure_optimizers(self.cfg.lr)
        self.history: list[dict] = []
        self.epoch = self.step = 0
        self.epoch_step = 0  # batches done in the current epoch (a run stopped mid-epoch resumes there)
        if run.resume:
            self._restore(run.resume)
        elif run.init_state:
            self._load_initial(run.init_state)
        self.log: MetricsLog | None = None
        self._preview_idx = torch.from_numpy(self.val_idx[:PREVIEW_COUNT])
        images = run.data.images
        self._pixels = images.to(self.device).float().div_(255.0) if 4 * images.numel() <= FLOAT_CACHE_BYTES else images
        self._val_ss_tot: float | None = None

    # --- checkpoints ----------------------------------------------------------------------
    def _load_initial(self, state: dict) -> None:
        """Start from ``state`` for the parameters it names; every name must belong to the model."""
        try:
            unexpected = self.model.load_state_dict(state, strict=False).unexpected_keys
            if unexpected:
                raise RuntimeError(f"no place for {', '.join(unexpected[:3])}")
        except RuntimeError as exc:  # unknown names or wrong shapes
            raise CheckpointError(f"initial weights do not fit model {self.run.model_name!r} "
                                  f"({str(exc).splitlines()[0][:200]})") from exc

    def _train_state_extra(self) -> dict:
        return {"val_indices": self.val_idx.tolist()}

    # --- the loop -------------------------------------------------------------------------
    def _batch(self, idx: torch.Tensor) -> torch.Tensor:
        """Images ``idx`` as floats in [0, 1] on the training device (from the float cache, or sent as bytes)."""
        x = self._pixels.index_select(0, idx.to(self._pixels.device))
        return x if x.is_floating_point() else x.to(self.device, non_blocking=True).float().div_(255.0)

    @torch.no_grad()
    def validate(self) -> dict:
        """Loss components and R² (variance-weighted, as ``metrics.r2_score``) over the whole validation split."""
        self.model.eval()
        idx = torch.from_numpy(self.val_idx)
        if self._val_ss_tot is None:  # the validation images never change: their variance is computed once
            x = self._batch(idx).cpu().double()
            self._val_ss_tot = float((x - x.mean(0)).pow(2).sum())
        sums: dict[str, float] = {}
        ss_res = 0.0
        for chunk in idx.split(max(self.cfg.batch_size, 256)):
            x = self._batch(chunk)
            for k, v in self.model.loss(x).items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(x)
            if self.model.reconstructs:
                ss_res += float((x - self.model.reconstruct(x)).pow(2).sum())  # float32: MPS has no float64
        self.model.train()
        out = {k: v / len(idx) for k, v in sums.items()}
        out["r2"] = 1.0 - ss_res / self._val_ss_tot if self.model.reconstructs and self._val_ss_tot > 0 else None
        return out

    def preview(self) -> None:
        """Reconstructions of fixed validation images and samples from fixed noise, as uint8 grids."""
        self.model.eval()
        grids = preview_grids(self.model, self._batch(self._preview_idx), self.cfg.seed)
        self.model.train()
        self.on_event({"type": "preview", "epoch": self.epoch, "step": self.step, **grids})

    @torch.no_grad()
    def _train_r2(self, x: torch.Tensor) -> float | None:
        if not self.model.reconstructs:
            return None
        self.model.eval()
        r2 = r2_score(x, self.model.reconstruct(x))
        self.model.train()
        return r2

    @staticmethod
    def _mean_losses(pending: list[tuple[dict, int]]) -> dict[str, float]:
        """Sample-weighted mean of each loss component over the batches in ``pending`` (one device sync)."""
        sizes = torch.tensor([n for _, n in pending], dtype=torch.float32)
        values = torch.stack([torch.stack([v.float() for v in losses.values()]) for losses, _ in pending]).cpu()
        return dict(zip(pending[0][0], ((values * sizes[:, None]).sum(0) / sizes.sum()).tolist()))

    def train(self) -> str:
        """Train to ``config.epochs``; returns how it ended: ``finished`` or ``stopped``.

        Raises ``TrainingError`` when the loss stops being finite (the last checkpoint is kept).
        """
        cfg = self.cfg
        steps_per_epoch = math.ceil(len(self.train_idx) / cfg.batch_size)
        total_steps = max(1, cfg.epochs * steps_per_epoch)
        start_step, t0 = self.step, time.perf_counter()
        last_preview = preview_cost = 0.0
        last_save = t0
        self.log = MetricsLog(self.run.out_dir / "metrics.jsonl", self.history) if self.run.out_dir else None
        threads = torch.get_num_threads()
        torch.set_num_threads(training_threads())  # a busy spare core stalls every multi-threaded op
        self.model.train()
        running = {"type": "state", "state": "running", "device": str(self.device)}
        self.on_event(running)
        shuffle = torch.Generator()
        try:
            while self.epoch < cfg.epochs:
                shuffle.manual_seed(cfg.seed + self.epoch)  # the same order again when resumed mid-epoch
                perm = torch.from_numpy(self.train_idx)[torch.randperm(len(self.train_idx), generator=shuffle)]
                batches = perm.split(cfg.batch_size)
                pending: list[tuple[dict, int]] = []  # (losses, batch size) since the last row; summed when logged
                for i in range(min(self.epoch_step, len(batches)), len(batches)):
                    obeyed = self._obey_control(running)
                    if obeyed == "stopped":
                        return obeyed
                    if obeyed == "resumed":  # the rate and ETA count from here
                        t0, start_step = time.perf_counter(), self.step
                    x = self._batch(batches[i])
                    losses = self.model.train_step(x, self.optimizers)
                    pending.append((losses, len(x)))
                    self.step, self.epoch_step = self.step + 1, i + 1
                    if self.step % cfg.log_every == 0 or i == len(batches) - 1:
                        row = self._mean_losses(pending)
                        self._check_finite(row["total"], f"at step {self.step} (epoch {self.epoch + 1})")
                        elapsed, done = time.perf_counter() - t0, self.step - start_step
                        self._emit_metrics({
                            "step": self.step, "epoch": self.epoch + (i + 1) / len(batches), "split": "train",
                            "loss": row.pop("total"), "r2": self._train_r2(x), **row,
                            "samples_per_s": done * cfg.batch_size / elapsed, "progress": self.step / total_steps,
                            "eta_s": elapsed / done * max(0, total_steps - self.step), "time": time.time()})
                        pending = []
                        if time.perf_counter() - last_preview > max(cfg.preview_interval_s, 9 * preview_cost):
                            tick = time.perf_counter()
                            self.preview()  # slow samplers (diffusion) preview less often: <= 10 % of the time
                            last_preview = time.perf_counter()
                            preview_cost = last_preview - tick
                self.epoch, self.epoch_step = self.epoch + 1, 0
                last_save = self._end_epoch(self.validate(), "on the validation images", total_steps, last_save)
            self.preview()
            self.on_event({"type": "state", "state": "finished"})
            return "finished"
        finally:
            torch.set_num_threads(threads)
            if self.log:
                self.log.close()


@torch.no_grad()
def preview_grids(model: GenerativeModel, x: torch.Tensor, seed: int) -> dict[str, np.ndarray]:
    """What the Training panel shows of a model (in eval mode): the images ``x`` (floats in [0, 1] on its
    device) and their reconstructions if it reconstructs, and PREVIEW_COUNT samples from noise seeded by
    ``seed`` if it samples; uint8 arrays (N, C, H, W) under 'original', 'reconstruction', 'samples'."""
    grids = {}
    if model.reconstructs:
        grids = {"original": x, "reconstruction": model.reconstruct(x)}
    if model.can_sample:
        grids["samples"] = model.sample(PREVIEW_COUNT, generator=torch.Generator(model.device).manual_seed(seed))
    return {k: (v.clamp(0, 1) * 255).round().byte().cpu().numpy() for k, v in grids.items()}
