"""The training loop every trainer runs (images and audio alike), with its settings and its controls.

The loop knows nothing of threads or Qt: it calls ``on_event(dict)`` for every logged step, validation
pass, preview and state change, and checks ``control`` between steps for pause/stop. ``core.worker`` runs
it in a background thread; the command line runs it in the foreground. A trainer fills in the hooks:
``steps_per_epoch``, ``batch`` (step ``i`` of an epoch, the same again when resumed), ``step_metrics``
(figures of the last batch for its train row), ``validate``, ``preview`` and ``train_state_extra``.

Event types: ``metrics`` (also written to ``metrics.jsonl``), ``preview`` (image grids), ``state``,
``checkpoint``. Every ``metrics`` row has ``step``, ``epoch``, ``split``, ``loss``, ``r2`` (None where the
model does not reconstruct) and one key per loss component, plus the trainer's own figures.
"""
from __future__ import annotations

import contextlib
import math
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable

import torch

from .checkpoint import save_checkpoint
from .device import pick_device, training_threads
from .errors import CheckpointError, LatentExplorerError, TrainingError
from .metrics import MetricsLog
from .runfolder import RunFolder

CHECKPOINT_MIN_GAP_S = 2.0  # cheap checkpoints come this often: a killed run loses about this much training
CHECKPOINT_SHARE = 0.02  # dearer ones less often: saving takes at most this share of the training time


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    val_fraction: float = 0.1
    seed: int = 0
    device: str = "auto"
    log_every: int = 50  # steps between train metrics rows (each costs one extra forward pass for its figures)
    preview_interval_s: float = 1.5  # least time between previews during an epoch
    checkpoint_interval_s: float = 10.0  # most training time a killed run can lose (the first and last epochs always save)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def check(self) -> None:
        """LatentExplorerError naming the first setting out of its range."""
        rules = {"epochs": (1, 10**7), "batch_size": (1, 1 << 20), "lr": (1e-12, 10.0), "val_fraction": (1e-6, 0.9),
                 "seed": (0, 2**63 - 1), "log_every": (1, 10**9), "preview_interval_s": (0.0, math.inf),
                 "checkpoint_interval_s": (0.0, math.inf)}
        for name, (low, high) in rules.items():
            value = getattr(self, name)
            integral = isinstance(getattr(TrainConfig, name), int)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high \
                and (not integral or float(value).is_integer())
            if not ok:
                kind, span = ("a whole number", f"{low:,} to {high:,}") if integral else ("a number", f"{low:g} to {high:g}")
                raise LatentExplorerError(f"{name.replace('_', ' ')} must be {kind} from {span}, got {value!r}")


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


Batch = tuple[torch.Tensor, ...]  # the arguments of ``model.train_step`` before the optimisers


class TrainerBase:
    """Resuming from a checkpoint, atomic saves of finite weights, the metrics log, the NaN guard, pause and
    stop, and the loop itself. A subclass builds ``self.model`` and ``self.optimizers`` after calling
    ``__init__`` (then ``restore`` if resuming) and implements the hooks."""

    #: what one training example is, for rates: 'images', 'clips'
    unit = "images"
    #: where validation happens, for the NaN message: 'on the validation images'
    validation_place = "on the validation split"

    def __init__(self, run, on_event: Callable[[dict], None] = lambda e: None, control: Control | None = None):
        self.run, self.cfg, self.on_event = run, run.config, on_event
        self.control = control or Control()
        self.device = pick_device(self.cfg.device)
        torch.manual_seed(self.cfg.seed)
        self.history: list[dict] = []
        self.epoch = self.step = 0
        self.epoch_step = 0  # batches done in the current epoch (a run stopped mid-epoch resumes there)
        self.log: MetricsLog | None = None
        self.model = self.optimizers = None
        self._pending: list[tuple[dict, int]] = []  # (losses, batch size) since the last train row

    # --- hooks ----------------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        raise NotImplementedError

    def batch(self, epoch: int, index: int) -> Batch:
        """Batch ``index`` of epoch ``epoch`` on the training device; the same again for the same numbers."""
        raise NotImplementedError

    def step_metrics(self, batch: Batch) -> dict:
        """Figures of the model on the last batch for its train row (``r2`` at least; None where it has none)."""
        return {"r2": None}

    def validate(self) -> dict:
        """Loss components (``total`` at least) and figures over the validation split."""
        raise NotImplementedError

    def preview(self) -> None:
        """Emit a ``preview`` event: what the model makes of fixed validation examples."""

    def train_state_extra(self) -> dict:
        """What this kind of run needs besides the counters to be resumed (its data, its split)."""
        return {}

    # --- checkpoints ----------------------------------------------------------------------
    def restore(self, payload: dict) -> None:
        """Continue from a checkpoint's weights, optimiser states, counters and history."""
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
        self._pending = [({k: torch.tensor(v) for k, v in losses.items()}, int(n))
                         for losses, n in ts.get("pending", [])]
        if isinstance(ts.get("rng"), torch.Tensor):  # the random numbers go on as if never interrupted
            torch.set_rng_state(ts["rng"])

    @property
    def checkpoint_path(self) -> Path | None:
        return self.run.out_dir / "checkpoint.pt" if self.run.out_dir else None

    def save(self, path: Path | None = None) -> Path | None:
        """Write a checkpoint (atomically); refuses weights that are no longer finite, keeping the old file."""
        path = path or self.checkpoint_path
        if path is None:
            return None
        if not self._weights_finite():
            raise TrainingError(f"the weights stopped being finite numbers at step {self.step}; not saved. "
                                "Try a lower learning rate")
        train_state = {"epoch": self.epoch, "step": self.step, "epoch_step": self.epoch_step,
                       "config": asdict(self.cfg), "dataset": self.run.dataset_source, "rng": torch.get_rng_state(),
                       "pending": [({k: float(v) for k, v in losses.items()}, n) for losses, n in self._pending],
                       **self.train_state_extra()}
        save_checkpoint(path, self.model, self.optimizers, train_state, self.history)
        self.on_event({"type": "checkpoint", "path": str(path)})
        return path

    # --- the loop -------------------------------------------------------------------------
    def train(self, overwrite: bool = False) -> str:
        """Train to ``config.epochs``; returns how it ended: ``finished`` or ``stopped``.

        The run folder is held for the whole run (``core.runfolder``): a fresh run refuses a folder that
        holds a run unless ``overwrite``. Raises ``TrainingError`` when the loss stops being finite (the last
        checkpoint is kept).
        """
        out = self.run.out_dir
        with RunFolder(out).claim(self.run.resume is None, overwrite) if out else contextlib.nullcontext():
            return self._train()

    def _train(self) -> str:
        cfg = self.cfg
        spe = max(1, self.steps_per_epoch())
        total_steps = max(1, cfg.epochs * spe)
        self._rate_from = (time.perf_counter(), self.step)  # the rate and ETA count from here
        self._last_preview, self._preview_cost = 0.0, 0.0
        self._last_save: float | None = None  # no checkpoint yet in this session
        self._save_costs = [0.0]  # seconds of the last saves
        self._session_start = time.perf_counter()
        self.log = MetricsLog(self.run.out_dir / "metrics.jsonl", self.history) if self.run.out_dir else None
        threads = torch.get_num_threads()
        torch.set_num_threads(training_threads())  # a busy spare core stalls every multi-threaded op
        self.model.train()
        running = {"type": "state", "state": "running", "device": str(self.device)}
        self.on_event(running)
        try:
            while self.epoch < cfg.epochs:
                for i in range(min(self.epoch_step, spe), spe):
                    if self._obey_control(running) == "stopped":
                        return "stopped"
                    batch = self.batch(self.epoch, i)
                    self._pending.append((self.model.train_step(*batch, self.optimizers), len(batch[0])))
                    self.step, self.epoch_step = self.step + 1, i + 1
                    if self.step % cfg.log_every == 0 or i == spe - 1:
                        self._log_train(self._pending, batch, (i + 1) / spe, total_steps)
                        self._pending = []
                        self._maybe_preview()
                    if i < spe - 1 and self._since_save() >= self._save_gap():
                        self._save_now()  # a killed run loses about the gap
                self.epoch, self.epoch_step = self.epoch + 1, 0
                self._end_epoch(total_steps)
            self._eval(self.preview)
            self.on_event({"type": "state", "state": "finished"})
            return "finished"
        finally:
            torch.set_num_threads(threads)
            if self.log:
                self.log.close()

    def _obey_control(self, running: dict) -> str:
        """Between steps: wait out a pause (``resumed``), or save and end on a stop (``stopped``); else ''."""
        resumed = ""
        if self.control.paused:
            self.on_event({"type": "state", "state": "paused"})
            self.control.wait_if_paused()
            self.on_event(running)
            self._rate_from = (time.perf_counter(), self.step)
            resumed = "resumed"
        if self.control.stop_requested:
            self.save()
            self.on_event({"type": "state", "state": "stopped"})
            return "stopped"
        return resumed

    def _log_train(self, pending: list[tuple[dict, int]], batch: Batch, epoch_fraction: float,
                   total_steps: int) -> None:
        row = _mean_losses(pending)
        self._check_finite(row["total"], f"at step {self.step} (epoch {self.epoch + 1})")
        since, from_step = self._rate_from
        elapsed, done = time.perf_counter() - since, max(1, self.step - from_step)
        self._emit_metrics({
            "step": self.step, "epoch": self.epoch + epoch_fraction, "split": "train", "loss": row.pop("total"),
            **self._eval(self.step_metrics, batch), **row,
            "samples_per_s": done * self.cfg.batch_size / elapsed, "progress": self.step / total_steps,
            "eta_s": elapsed / done * max(0, total_steps - self.step), "time": time.time()})

    def _maybe_preview(self) -> None:
        """A preview when the interval has passed; slow ones (diffusion sampling) less often: <= 10 % of the time."""
        if time.perf_counter() - self._last_preview > max(self.cfg.preview_interval_s, 9 * self._preview_cost):
            tick = time.perf_counter()
            self._eval(self.preview)
            self._last_preview = time.perf_counter()
            self._preview_cost = self._last_preview - tick

    def _end_epoch(self, total_steps: int) -> None:
        """Log the validation row of the epoch just done (NaN-checked) and save a checkpoint after the first
        epoch of the session, the last one, and whenever the checkpoint interval has passed."""
        val = self._eval(self.validate)
        self._check_finite(val["total"], f"{self.validation_place} in epoch {self.epoch}")
        self._emit_metrics({"step": self.step, "epoch": float(self.epoch), "split": "val",
                            "loss": val.pop("total"), "r2": val.pop("r2", None), **val,
                            "progress": self.step / total_steps, "time": time.time()})
        if self.epoch == self.cfg.epochs or self._last_save is None or self._since_save() >= self._save_gap():
            self._save_now()

    def _since_save(self) -> float:
        return time.perf_counter() - (self._session_start if self._last_save is None else self._last_save)

    def _save_gap(self) -> float:
        """Training time between checkpoints: short while saving is cheap, never over the configured interval."""
        cost = min(self._save_costs[-2:])  # a one-off slow save (the first, a busy disk) does not count
        return min(self.cfg.checkpoint_interval_s, max(CHECKPOINT_MIN_GAP_S, cost / CHECKPOINT_SHARE))

    def _weights_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.model.parameters())

    def _save_now(self) -> None:
        """A checkpoint on the loop's schedule; none while the weights are not finite (the NaN check of the
        next row stops the run, naming the last good checkpoint)."""
        if not self._weights_finite():
            return
        tick = time.perf_counter()
        self.save()
        self._last_save = time.perf_counter()
        self._save_costs = [self._save_costs[-1], self._last_save - tick]

    def _eval(self, hook: Callable, *args):
        """Run an evaluation hook with the model in eval mode and no gradients."""
        self.model.eval()
        try:
            with torch.no_grad():
                return hook(*args)
        finally:
            self.model.train()

    def _emit_metrics(self, row: dict) -> None:
        self.history.append(row)
        if self.log:
            self.log.write(row)
        self.on_event({"type": "metrics", **row})

    def _check_finite(self, loss: float, where: str) -> None:
        if not math.isfinite(loss):
            last = self.checkpoint_path
            raise TrainingError(f"the loss became {loss} {where}; stopped. Try a lower learning rate"
                                + (f"; the last good checkpoint is {last}" if last and last.exists() else ""))


def _mean_losses(pending: list[tuple[dict, int]]) -> dict[str, float]:
    """Sample-weighted mean of each loss component over the batches in ``pending`` (one device sync)."""
    sizes = torch.tensor([n for _, n in pending], dtype=torch.float32)
    values = torch.stack([torch.stack([v.float() for v in losses.values()]) for losses, _ in pending]).cpu()
    return dict(zip(pending[0][0], ((values * sizes[:, None]).sum(0) / sizes.sum()).tolist()))
