"""Saving and restoring a run, a part of ``core.train.loop.TrainerBase``: resuming from a checkpoint, atomic
saves of finite weights (written by ``core.train.saver``'s thread), the saves the loop schedules (often while
they are cheap, so a killed run loses little) and the metrics log (``metrics.jsonl``)."""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import torch

from ..errors import CheckpointError, TrainingError
from .checkpoint import checkpoint_payload
from .metrics import MetricsLog

CHECKPOINT_MIN_GAP_S = 2.0  # cheap checkpoints come this often: a killed run loses about this much training
CHECKPOINT_SHARE = 0.02  # dearer ones less often: saving takes at most this share of the training time


class Saving:
    """Checkpoints and the metrics log of a ``TrainerBase``."""

    def restore(self, payload: dict) -> None:
        """Continue from a checkpoint's weights, optimiser states, counters and history (a distributed run's
        or a single process's: steps into an epoch scale with the number of ranks)."""
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
        self.epoch_step = self.epoch_step * int(ts.get("world_size", 1)) // self.ranks.world_size
        self.history = list(payload.get("history", []))
        self._losses.restore(ts.get("pending"), self.device)
        if isinstance(ts.get("rng"), torch.Tensor):  # the random numbers go on as if never interrupted
            torch.set_rng_state(ts["rng"])

    @property
    def checkpoint_path(self) -> Path | None:
        return self.run.out_dir / "checkpoint.pt" if self.run.out_dir else None

    def save(self, path: Path | None = None) -> Path | None:
        """Write a checkpoint (atomically) and wait until it is on disk; refuses weights that are no longer
        finite, keeping the old file. Only rank 0 of a distributed run writes."""
        path = self._snapshot(path)
        self._saver.wait()
        return path

    def _snapshot(self, path: Path | None = None, scheduled: bool = False) -> Path | None:
        """Hand a copy of the model, optimisers, counters and history to the background writer. Weights that
        are no longer finite are refused: a ``scheduled`` save skips them quietly (the NaN check of the next
        row stops the run, naming the last good checkpoint), any other raises."""
        path = path or self.checkpoint_path
        if path is None or not self.ranks.main:
            return None
        if not self._weights_finite():
            if scheduled:
                return None
            raise TrainingError(f"the weights stopped being finite numbers at step {self.step}; not saved. "
                                "Try a lower learning rate")
        train_state = {"epoch": self.epoch, "step": self.step, "epoch_step": self.epoch_step,
                       "world_size": self.ranks.world_size, "config": asdict(self.cfg),
                       "dataset": self.run.dataset_source, "rng": torch.get_rng_state(),
                       "pending": self._losses.state(), **self.train_state_extra()}
        self._saver.write(path, checkpoint_payload(self.model, self.optimizers, train_state, self.history))
        return path

    def _since_save(self) -> float:
        return time.perf_counter() - (self._session_start if self._last_save is None else self._last_save)

    def _save_gap(self) -> float:
        """Training time between checkpoints: short while saving (the snapshot, and the write on another thread)
        is cheap, never over the configured interval."""
        cost = min(self._save_costs[-2:])  # a one-off slow save (the first, a busy disk) does not count
        return min(self.cfg.checkpoint_interval_s, max(CHECKPOINT_MIN_GAP_S, cost / CHECKPOINT_SHARE))

    def _weights_finite(self) -> bool:
        params = list(self.model.parameters())
        return not params or bool(torch.stack([torch.isfinite(p).all() for p in params]).all())

    def _save_now(self) -> None:
        """A checkpoint on the loop's schedule."""
        tick = time.perf_counter()
        self._snapshot(scheduled=True)
        self._budget.charge(tick)
        self._last_save = time.perf_counter()
        self._save_costs = [self._save_costs[-1], self._last_save - tick + self._saver.last_write_s]

    def _emit_metrics(self, row: dict) -> None:
        self.history.append(row)
        if self.log:
            self.log.write(row)
        self.on_event({"type": "metrics", **row})

    def _open_log(self) -> MetricsLog | None:
        """The run's metrics log, starting with its history (rank 0 of a run with a folder; else None)."""
        return MetricsLog(self.run.out_dir / "metrics.jsonl", self.history) \
            if self.run.out_dir and self.ranks.main else None
