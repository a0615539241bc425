"""The training loop: runs any ``GenerativeModel`` on an ``ImageData`` and streams events.

The loop itself knows nothing of threads or Qt: it calls ``on_event(dict)`` for every logged step,
validation pass, preview and state change, and checks ``control`` between steps for pause/stop.
``core.worker`` runs it in a background thread; the CLI runs it in the foreground.

Event types: ``metrics`` (also written to ``metrics.jsonl``), ``preview`` (image grids), ``state``,
``checkpoint``. Every ``metrics`` row has ``step``, ``epoch``, ``split``, ``loss``, ``r2`` and one key
per loss component.
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

from models import GenerativeModel, build_model

from .checkpoint import save_checkpoint
from .data import ImageData
from .device import pick_device
from .errors import TrainingError
from .metrics import MetricsLog, r2_score

PREVIEW_COUNT = 16


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    val_fraction: float = 0.1
    seed: int = 0
    device: str = "auto"
    log_every: int = 10  # steps between train metrics rows
    preview_interval_s: float = 1.5  # least time between preview grids during an epoch

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


def model_config_for(name: str, data: ImageData, train_idx: np.ndarray, **overrides) -> dict:
    """The model config for ``data``: its image shape and normalisation statistics, plus overrides."""
    mean, std = data.channel_stats(torch.from_numpy(train_idx))
    return {"image_shape": list(data.image_shape), "mean": mean, "std": std, **overrides}


class Trainer:
    def __init__(self, run: Run, on_event: Callable[[dict], None] = lambda e: None, control: Control | None = None):
        self.run = run
        self.cfg = run.config
        self.on_event = on_event
        self.control = control or Control()
        self.device = pick_device(self.cfg.device)
        torch.manual_seed(self.cfg.seed)
        self.train_idx, self.val_idx = run.data.split(self.cfg.val_fraction, self.cfg.seed)
        self.model: GenerativeModel = build_model(run.model_name, run.model_config).to(self.device)
        self.optimizers = self.model.configure_optimizers(self.cfg.lr)
        self.history: list[dict] = []
        self.epoch = self.step = 0
        if run.resume:
            self._restore(run.resume)
        self.log = MetricsLog(run.out_dir / "metrics.jsonl") if run.out_dir else None
        self._preview_idx = torch.from_numpy(self.val_idx[:PREVIEW_COUNT])

    # --- checkpoints ----------------------------------------------------------------------
    def _restore(self, payload: dict) -> None:
        self.model.load_state_dict(payload["state_dict"])
        for name, state in payload.get("optimizers", {}).items():
            if name in self.optimizers:
                self.optimizers[name].load_state_dict(state)
        ts = payload.get("train_state", {})
        self.epoch, self.step = int(ts.get("epoch", 0)), int(ts.get("step", 0))
        self.history = list(payload.get("history", []))

    @property
    def checkpoint_path(self) -> Path | None:
        return self.run.out_dir / "checkpoint.pt" if self.run.out_dir else None

    def save(self, path: Path | None = None) -> Path | None:
        path = path or self.checkpoint_path
        if path is None:
            return None
        train_state = {"epoch": self.epoch, "step": self.step, "config": asdict(self.cfg),
                       "dataset": self.run.dataset_source, "val_indices": self.val_idx.tolist()}
        save_checkpoint(path, self.model, self.optimizers, train_state, self.history)
        self.on_event({"type": "checkpoint", "path": str(path)})
        return path

    # --- the loop -------------------------------------------------------------------------
    def _emit_metrics(self, row: dict) -> None:
        self.history.append(row)
        if self.log:
            self.log.write(row)
        self.on_event({"type": "metrics", **row})

    def _batch(self, idx: torch.Tensor) -> torch.Tensor:
        return self.run.data.float_images(idx).to(self.device, non_blocking=True)

    @torch.no_grad()
    def validate(self) -> dict:
        """Loss components and R² over the whole validation split."""
        self.model.eval()
        sums: dict[str, float] = {}
        ss_res = ss_tot = 0.0
        n = 0
        mean = self.run.data.float_images(torch.from_numpy(self.val_idx)).mean(0).to(self.device)
        for chunk in torch.from_numpy(self.val_idx).split(max(self.cfg.batch_size, 256)):
            x = self._batch(chunk)
            for k, v in self.model.loss(x).items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(x)
            if self.model.reconstructs:
                xr = self.model.reconstruct(x)
                ss_res += float((x - xr).double().pow(2).sum())
                ss_tot += float((x - mean).double().pow(2).sum())
            n += len(x)
        self.model.train()
        out = {k: v / n for k, v in sums.items()}
        out["r2"] = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
        return out

    @torch.no_grad()
    def preview(self) -> None:
        self.model.eval()
        grids = {}
        if self.model.reconstructs:
            x = self._batch(self._preview_idx)
            grids = {"original": x, "reconstruction": self.model.reconstruct(x)}
        if self.model.can_sample:
            grids["samples"] = self.model.sample(PREVIEW_COUNT, generator=None)
        self.model.train()
        self.on_event({"type": "preview", "epoch": self.epoch, "step": self.step,
                       **{k: (v.clamp(0, 1) * 255).round().byte().cpu().numpy() for k, v in grids.items()}})

    def train(self) -> str:
        """Train to ``config.epochs``; returns how it ended: ``finished`` or ``stopped``.

        Raises ``TrainingError`` when the loss stops being finite (the last checkpoint is kept).
        """
        cfg, data = self.cfg, self.run.data
        steps_per_epoch = math.ceil(len(self.train_idx) / cfg.batch_size)
        total_steps = cfg.epochs * steps_per_epoch
        start_step, t0 = self.step, time.perf_counter()
        last_preview = 0.0
        self.model.train()
        self.on_event({"type": "state", "state": "running", "device": str(self.device)})
        gen = torch.Generator().manual_seed(cfg.seed + self.epoch)
        try:
            while self.epoch < cfg.epochs:
                perm = torch.from_numpy(self.train_idx)[torch.randperm(len(self.train_idx), generator=gen)]
                sums: dict[str, torch.Tensor] = {}
                seen = 0
                for i, idx in enumerate(perm.split(cfg.batch_size)):
                    if self.control.paused:
                        self.on_event({"type": "state", "state": "paused"})
                        self.control.wait_if_paused()
                        self.on_event({"type": "state", "state": "running", "device": str(self.device)})
                        t0, start_step = time.perf_counter(), self.step
                    if self.control.stop_requested:
                        self.save()
                        self.on_event({"type": "state", "state": "stopped"})
                        return "stopped"
                    x = self._batch(idx)
                    losses = self.model.train_step(x, self.optimizers)
                    for k, v in losses.items():
                        sums[k] = sums[k] + v * len(x) if k in sums else v * len(x)
                    seen += len(x)
                    self.step += 1
                    if self.step % cfg.log_every == 0 or i == steps_per_epoch - 1:
                        row = {k: float(v) / seen for k, v in sums.items()}
                        if not all(math.isfinite(v) for v in row.values()):
                            raise TrainingError(f"the loss became {row['total']} at step {self.step} (epoch "
                                                f"{self.epoch + 1}); stopped. Try a lower learning rate"
                                                + (f"; the last good checkpoint is {self.checkpoint_path}"
                                                   if self.checkpoint_path and self.checkpoint_path.exists() else ""))
                        if self.model.reconstructs:
                            with torch.no_grad():
                                self.model.eval()
                                row["r2"] = r2_score(x, self.model.reconstruct(x))
                                self.model.train()
                        elapsed = time.perf_counter() - t0
                        done = self.step - start_step
                        self._emit_metrics({
                            "step": self.step, "epoch": self.epoch + (i + 1) / steps_per_epoch, "split": "train",
                            "loss": row.pop("total"), **row, "samples_per_s": done * cfg.batch_size / elapsed,
                            "progress": self.step / total_steps,
                            "eta_s": elapsed / done * (total_steps - self.step), "time": time.time()})
                        sums, seen = {}, 0
                        if time.perf_counter() - last_preview > cfg.preview_interval_s:
                            self.preview()
                            last_preview = time.perf_counter()
                self.epoch += 1
                val = self.validate()
                if not math.isfinite(val["total"]):
                    raise TrainingError(f"the validation loss became {val['total']} in epoch {self.epoch}; stopped")
                self._emit_metrics({"step": self.step, "epoch": float(self.epoch), "split": "val",
                                    "loss": val.pop("total"), **val, "progress": self.step / total_steps,
                                    "time": time.time()})
                self.save()
            self.preview()
            self.on_event({"type": "state", "state": "finished"})
            return "finished"
        finally:
            if self.log:
                self.log.close()
