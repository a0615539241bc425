"""The training loop every trainer runs (images and audio alike), with its settings and its controls.

The loop knows nothing of threads or Qt: it calls ``on_event(dict)`` for every logged step, validation
pass, preview and state change, and checks ``control`` between steps for pause/stop. ``core.runs.worker`` runs
it in a background thread; the command line runs it in the foreground. A trainer fills in the hooks:
``steps_per_epoch``, ``batch`` (step ``i`` of an epoch, the same again when resumed), ``step_metrics``
(figures of the last batch for its train row), ``validation_size``, ``validation_sums`` and ``validation_row``
(one validation pass, in parts that ranks of a distributed run can add up), ``preview`` and
``train_state_extra``.

Evaluation costs little at any batch size: validation, the train rows' figures, previews and checkpoint
snapshots together take at most ``eval_share`` of the wall time (validation shrinks to a fixed subset of the
split when the whole would cost more, previews wait, checkpoints are written by another thread). Steps run
through ``core.train.fast_step`` (a CUDA graph of the whole step where possible). In a distributed run
(``core.train.distributed``) each rank trains on its shard, the logged figures are averaged over the ranks and rank 0
alone writes the log and the checkpoints.

Event types: ``metrics`` (also written to ``metrics.jsonl``), ``preview`` (image grids), ``state``,
``checkpoint``. Every ``metrics`` row has ``step``, ``epoch``, ``split``, ``loss``, ``r2`` (None where the
model does not reconstruct), ``world_size`` and one key per loss component, plus the trainer's own figures.
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

from models import family

from . import distributed
from .checkpoint import checkpoint_payload
from .device import pick_device, training_threads
from ..errors import CheckpointError, LatentExplorerError, TrainingError
from .fast_step import (LossMeans, StepRunner, channels_last_works, has_convolutions, step_seconds, throughput_batch,
                        tune_optimizers)
from .metrics import MetricsLog
from ..runs.folder import RunFolder
from ..runs.listing import write_status
from .saver import BackgroundSaver

PRECISIONS = ("fp32", "bf16")
#: validation covers at least this many examples (or the whole split, if smaller)
MIN_VALIDATION = 256
#: the largest batch ``auto_batch`` tries (and never one that leaves an epoch fewer than 8 steps)
MAX_AUTO_BATCH = 4096
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
    eval_share: float = 0.05  # most share of the wall time for validation, train-row figures, previews, snapshots
    precision: str = "fp32"  # 'bf16': autocast the step to bfloat16 (CUDA, CPU)
    cuda_graphs: bool = True  # capture the whole step as a CUDA graph where it can be
    compile: bool = False  # steps call the family's loss compiled by torch.compile (compiling takes a while)
    auto_batch: bool = False  # on a CUDA GPU: the batch for throughput from batch_size up, lr scaled (then saved)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def check(self) -> None:
        """LatentExplorerError naming the first setting out of its range."""
        rules = {"epochs": (1, 10**7), "batch_size": (1, 1 << 20), "lr": (1e-12, 10.0), "val_fraction": (1e-6, 0.9),
                 "seed": (0, 2**63 - 1), "log_every": (1, 10**9), "preview_interval_s": (0.0, math.inf),
                 "checkpoint_interval_s": (0.0, math.inf), "eval_share": (1e-3, 1.0)}
        for name, (low, high) in rules.items():
            value = getattr(self, name)
            integral = isinstance(getattr(TrainConfig, name), int)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high \
                and (not integral or float(value).is_integer())
            if not ok:
                kind, span = ("a whole number", f"{low:,} to {high:,}") if integral else ("a number", f"{low:g} to {high:g}")
                raise LatentExplorerError(f"{name.replace('_', ' ')} must be {kind} from {span}, got {value!r}")
        if self.precision not in PRECISIONS:
            raise LatentExplorerError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


def chosen_settings(run) -> dict:
    """The model settings a user chooses (not those the data decides), as a run's ``status.json`` lists them."""
    editable = {s.name for s in family(run.model_name).specs(editable_only=True)}
    return {k: v for k, v in run.model_config.items() if k in editable}


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


class EvalBudget:
    """Keeps evaluation within ``share`` of the wall time since it was made: each cost is charged when spent."""

    def __init__(self, share: float):
        self.share, self.start, self.spent = share, time.perf_counter(), 0.0

    def allows(self, cost: float) -> bool:
        return self.spent + cost <= self.share * (time.perf_counter() - self.start)

    def charge(self, since: float) -> float:
        """Charge the time since ``since`` (a ``perf_counter`` reading); returns it."""
        cost = time.perf_counter() - since
        self.spent += cost
        return cost


class TrainerBase:
    """Resuming from a checkpoint, atomic saves of finite weights, the metrics log, the NaN guard, pause and
    stop, and the loop itself. A subclass builds ``self.model`` and ``self.optimizers`` after calling
    ``__init__`` (then ``restore`` if resuming) and implements the hooks."""

    #: what one training example is, for rates: 'images', 'clips'
    unit = "images"
    #: where validation happens, for the NaN message: 'on the validation images'
    validation_place = "on the validation split"

    def __init__(self, run, on_event: Callable[[dict], None] = lambda e: None, control: Control | None = None):
        self.run, self.cfg = run, run.config
        self.ranks = distributed.from_environment()
        self.on_event = on_event if self.ranks.main else (lambda e: None)
        self.control = control or Control()
        self.device = distributed.rank_device(pick_device(self.cfg.device), self.ranks)
        distributed.join(self.ranks, self.device)
        torch.manual_seed(self.cfg.seed)
        self.history: list[dict] = []
        self.epoch = self.step = 0
        self.epoch_step = 0  # batches done in the current epoch (a run stopped mid-epoch resumes there)
        self.log: MetricsLog | None = None
        self.model = self.optimizers = None
        self.step_runner: StepRunner | None = None
        self._saver = BackgroundSaver(lambda path: self.on_event({"type": "checkpoint", "path": str(path)}))
        self._losses = LossMeans()  # the losses of the steps since the last train row

    # --- hooks ----------------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        """Steps of this rank per epoch (every rank takes as many)."""
        raise NotImplementedError

    def batch(self, epoch: int, index: int) -> Batch:
        """Batch ``index`` of epoch ``epoch`` (of this rank's shard) on the training device; the same again
        for the same numbers."""
        raise NotImplementedError

    def step_metrics(self, batch: Batch) -> dict:
        """Figures of the model on the last batch for its train row (``r2`` at least; None where it has none)."""
        return {"r2": None}

    def validation_size(self) -> int:
        """Examples in the validation split."""
        raise NotImplementedError

    def validation_sums(self, positions: list[int]) -> dict[str, torch.Tensor | float]:
        """Sums over the validation examples at ``positions`` of the split (loss components weighted by
        examples, and what ``validation_row`` needs besides); ranks add theirs up."""
        raise NotImplementedError

    def validation_row(self, sums: dict[str, float], count: int) -> dict:
        """Loss components (``total`` at least) and figures over the first ``count`` validation examples,
        from the sums over them."""
        raise NotImplementedError

    def preview(self) -> None:
        """Emit a ``preview`` event: what the model makes of fixed validation examples."""

    def train_state_extra(self) -> dict:
        """What this kind of run needs besides the counters to be resumed (its data, its split)."""
        return {}

    # --- checkpoints ----------------------------------------------------------------------
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

    # --- the loop -------------------------------------------------------------------------
    def train(self, overwrite: bool = False) -> str:
        """Train to ``config.epochs``; returns how it ended: ``finished`` or ``stopped``.

        The run folder is held for the whole run (``core.runs.folder``): a fresh run refuses a folder that
        holds a run unless ``overwrite``. Raises ``TrainingError`` when the loss stops being finite (the last
        checkpoint is kept).
        """
        out = self.run.out_dir
        owner = out and self.ranks.main  # (rank 0 alone writes the folder)
        with RunFolder(out).claim(self.run.resume is None, overwrite) if owner else contextlib.nullcontext():
            return self._train()

    def _train(self) -> str:
        cfg = self.cfg
        self._batch_note = self._choose_batch() if cfg.auto_batch else ""
        spe = max(1, self.steps_per_epoch())
        total_steps = max(1, cfg.epochs * spe)
        self._rate_from = (time.perf_counter(), self.step)  # the rate and ETA count from here
        self._last_preview, self._preview_cost, self._previews = 0.0, 0.0, 0
        self._last_save: float | None = None  # no checkpoint yet in this session
        self._session_start = self._trained_since = time.perf_counter()
        self._budget = EvalBudget(cfg.eval_share)
        self._val_cost: float | None = None  # seconds per validation example on this rank
        self._save_costs = [0.0]  # seconds of the last saves
        self._setup_told: dict | None = None
        self.log = MetricsLog(self.run.out_dir / "metrics.jsonl", self.history) \
            if self.run.out_dir and self.ranks.main else None
        threads = torch.get_num_threads()
        torch.set_num_threads(training_threads())  # a busy spare core stalls every multi-threaded op
        averager = self._prepare_steps()
        self.model.train()
        running = {"type": "state", "state": "running", "device": str(self.device),
                   "world_size": self.ranks.world_size}
        self.on_event(running)
        self._status("running", model=self.run.model_name, dataset=self.run.dataset_source, epochs=cfg.epochs,
                     batch_size=cfg.batch_size, lr=cfg.lr, settings=chosen_settings(self.run),
                     world_size=self.ranks.world_size, device=str(self.device), started=time.time(), message=None)
        try:
            while self.epoch < cfg.epochs:
                for i in range(min(self.epoch_step, spe), spe):
                    if not self.ranks.distributed and self._obey_control(running) == "stopped":
                        return "stopped"
                    batch = self.batch(self.epoch, i)
                    self._losses.add(self.step_runner(batch), len(batch[0]))
                    self.step, self.epoch_step = self.step + 1, i + 1
                    if self.step % cfg.log_every == 0 or i == spe - 1:
                        self._log_train(batch, (i + 1) / spe, total_steps)
                        self._tell_setup()
                        if self.ranks.distributed and self._obey_control(running) == "stopped":
                            return "stopped"
                        self._maybe_preview()
                        self._saver.poll()
                    if i < spe - 1 and self._since_save() >= self._save_gap():
                        self._save_now()  # a killed run loses about the gap
                self.epoch, self.epoch_step = self.epoch + 1, 0
                self._end_epoch(total_steps)
            if self.ranks.main and (self._previews == 0 or self._budget.allows(self._preview_cost)):
                self._eval(self.preview)
            self._saver.wait()
            self._status("finished")
            self.on_event({"type": "state", "state": "finished"})
            return "finished"
        except (KeyboardInterrupt, SystemExit):
            self._status("stopped", message="interrupted")
            raise
        except BaseException as exc:
            self._status("failed", message=str(exc) if isinstance(exc, LatentExplorerError)
                         else f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self._saver.wait()  # a failed run keeps its last good checkpoint, whole
            if averager is not None:
                averager.remove()
            torch.set_num_threads(threads)
            if self.log:
                self.log.close()

    def _prepare_steps(self) -> distributed.GradientAverager | None:
        """The step runner for this device; in a distributed run, every rank on rank 0's weights and the
        gradient averaging (returned, to be removed when training ends)."""
        cuda = self.device.type == "cuda"
        tune_optimizers(self.optimizers, self.device)
        channels_last = cuda and has_convolutions(self.model) and \
            channels_last_works(self.model, self.batch(self.epoch, min(self.epoch_step, self.steps_per_epoch() - 1)))
        if channels_last:
            self.model.to(memory_format=torch.channels_last)
            tune_optimizers(self.optimizers, self.device)
        if cuda:
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        self.step_runner = StepRunner(self.model, self.optimizers, self.device, channels_last=channels_last,
                                      compile=self.cfg.compile, **self._runner_options())
        if self.ranks.distributed:
            if cuda:
                self.step_runner.note = "CUDA graphs are not used in distributed runs"
            distributed.replicate(self.model, self.ranks)
            torch.manual_seed(self.cfg.seed + self.ranks.rank)  # each rank its own noise
            return distributed.GradientAverager(self.model, self.ranks)
        return None

    def _status(self, state: str, **fields) -> None:
        """Record the run's state in its folder's ``status.json`` (rank 0; see ``core.runs.listing``)."""
        if self.run.out_dir and self.ranks.main:
            write_status(self.run.out_dir, state, **fields)

    def _tell_setup(self) -> None:
        """A ``setup`` event whenever how the steps run has changed (first: after the first logged row)."""
        runner = self.step_runner
        setup = {"type": "setup", "device": str(self.device), "world_size": self.ranks.world_size,
                 "batch_size": self.cfg.batch_size, "lr": self.cfg.lr, "batch_note": self._batch_note,
                 "precision": self.cfg.precision, "compile": self.cfg.compile,
                 "channels_last": runner.channels_last, "step_mode": runner.mode, "note": runner.note}
        if setup != self._setup_told:
            self._setup_told = setup
            self.on_event(dict(setup))

    def _runner_options(self) -> dict:
        return {"graphs": self.cfg.cuda_graphs and not self.ranks.distributed,
                "autocast": torch.bfloat16 if self.cfg.precision == "bf16" else None}

    def _choose_batch(self) -> str:
        """``auto_batch`` on a CUDA device: the batch for throughput (``fast_step.throughput_batch``, timed on
        a copy of the model), the learning rate scaled by the square root of the batch's growth. The choice
        becomes the run's settings (a resumed run keeps it); a line that says what was chosen."""
        cfg = self.cfg
        cfg.auto_batch = False
        if self.device.type != "cuda":
            return "the batch is chosen for throughput on CUDA GPUs only"
        start, lr = cfg.batch_size, cfg.lr
        limit = min(MAX_AUTO_BATCH, max(start, self.steps_per_epoch() * start // 8))
        batch = self.batch(self.epoch, 0)
        chosen = throughput_batch(lambda size: step_seconds(self.model, batch, size, lr, self.device,
                                                            **self._runner_options()), start, limit)
        chosen = distributed.agree_min(chosen, self.ranks)
        torch.cuda.empty_cache()  # the trial batches' memory
        cfg.batch_size, cfg.lr = chosen, lr * math.sqrt(chosen / start)
        return f"batch {chosen} chosen for throughput, learning rate {cfg.lr:.3g} (x{math.sqrt(chosen / start):.2f})"

    def _obey_control(self, running: dict) -> str:
        """Between steps: wait out a pause (``resumed``), or save and end on a stop (``stopped``); else ''.
        Ranks of a distributed run ask at each logged row and stop together when any of them is asked to."""
        resumed = ""
        if self.control.paused and not self.ranks.distributed:
            self.on_event({"type": "state", "state": "paused"})
            self.control.wait_if_paused()
            self.on_event(running)
            self._rate_from = (time.perf_counter(), self.step)
            resumed = "resumed"
        if distributed.any_rank(self.control.stop_requested, self.ranks):
            self.save()
            self._status("stopped")
            self.on_event({"type": "state", "state": "stopped"})
            return "stopped"
        return resumed

    def _log_train(self, batch: Batch, epoch_fraction: float, total_steps: int) -> None:
        row = self._losses.means(self.step_runner.names, lambda t: distributed.all_sum(t, self.ranks))
        self._check_finite(row["total"], f"at step {self.step} (epoch {self.epoch + 1})")
        since, from_step = self._rate_from
        elapsed, done = time.perf_counter() - since, max(1, self.step - from_step)
        tick = time.perf_counter()
        figures = self._over_ranks(self._eval(self.step_metrics, batch))
        self._budget.charge(tick)
        self._emit_metrics({
            "step": self.step, "epoch": self.epoch + epoch_fraction, "split": "train", "loss": row.pop("total"),
            **figures, **row, "world_size": self.ranks.world_size,
            "samples_per_s": done * self.cfg.batch_size * self.ranks.world_size / elapsed,
            "progress": self.step / total_steps,
            "eta_s": elapsed / done * max(0, total_steps - self.step), "time": time.time()})

    def _over_ranks(self, figures: dict) -> dict:
        """The ranks' mean of each figure (None stays None: it is None on every rank)."""
        if not self.ranks.distributed:
            return figures
        keys = [k for k, v in figures.items() if v is not None]
        values = torch.tensor([float(figures[k]) for k in keys], dtype=torch.float64, device=self.device)
        means = distributed.all_sum(values, self.ranks) / self.ranks.world_size
        return {**figures, **dict(zip(keys, means.tolist()))}

    def _maybe_preview(self) -> None:
        """A preview when the interval has passed and the evaluation budget allows its cost (rank 0 only)."""
        if not self.ranks.main or time.perf_counter() - self._last_preview < self.cfg.preview_interval_s \
                or not self._budget.allows(self._preview_cost):
            return
        tick = time.perf_counter()
        self._eval(self.preview)
        self._preview_cost = self._budget.charge(tick)
        self._last_preview, self._previews = time.perf_counter(), self._previews + 1

    def _end_epoch(self, total_steps: int) -> None:
        """Log the validation row of the epoch just done (NaN-checked) and save a checkpoint after the first
        epoch of the session, the last one, and whenever the checkpoint interval has passed."""
        val = self._eval(self._validate)
        self._check_finite(val["total"], f"{self.validation_place} in epoch {self.epoch}")
        self._emit_metrics({"step": self.step, "epoch": float(self.epoch), "split": "val",
                            "loss": val.pop("total"), "r2": val.pop("r2", None), **val,
                            "world_size": self.ranks.world_size, "progress": self.step / total_steps,
                            "time": time.time()})
        if self.epoch == self.cfg.epochs or self._last_save is None or self._since_save() >= self._save_gap():
            self._save_now()

    def _validate(self) -> dict:
        """One validation pass over as many examples as the budget allows: the whole split when it can, else
        its first ``MIN_VALIDATION`` times a power of two (so that the count seldom changes), shared out
        between the ranks. The session's first pass times the first ``MIN_VALIDATION`` examples before it
        decides. The row's figures, plus ``val_items`` when not the whole split."""
        size = self.validation_size()
        tick = time.perf_counter()
        self._epoch_time = tick - self._trained_since
        timing = self._val_cost is None
        count = min(size, MIN_VALIDATION) if timing else self._validation_count(size)
        totals = self._validation_totals(0, count)
        if timing:
            self._val_cost = (time.perf_counter() - tick) / _share(count, self.ranks)
            more = self._validation_count(size)
            if more > count:
                totals = {k: v + totals[k] for k, v in self._validation_totals(count, more).items()}
                count = more
        self._val_cost = self._budget.charge(tick) / _share(count, self.ranks)
        self._trained_since = time.perf_counter()
        row = self.validation_row(totals, count)
        return row if count == size else {**row, "val_items": count}

    def _validation_totals(self, start: int, stop: int) -> dict[str, float]:
        """The validation sums over examples ``start`` to ``stop`` - 1 of the split, added up over the ranks
        (each takes every ``world_size``-th)."""
        sums = self.validation_sums(list(range(start + self.ranks.rank, stop, self.ranks.world_size)))
        values = torch.stack([torch.as_tensor(v, dtype=torch.float32).to(self.device).reshape(())
                              for v in sums.values()])
        return dict(zip(sums, distributed.all_sum(values, self.ranks).tolist()))

    def _validation_count(self, size: int) -> int:
        """How many validation examples the budget affords (see ``_validate``), agreed between the ranks."""
        least = min(size, MIN_VALIDATION)
        if size <= least:
            return size
        affordable = self.cfg.eval_share / 2 * self._epoch_time / self._val_cost * self.ranks.world_size
        count = least
        while count * 2 <= min(size, affordable):
            count *= 2
        return distributed.agree_min(size if affordable >= size else count, self.ranks)

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
            self._saver.wait()
            last = self.checkpoint_path
            raise TrainingError(f"the loss became {loss} {where}; stopped. Try a lower learning rate"
                                + (f"; the last good checkpoint is {last}" if last and last.exists() else ""))


def _share(count: int, ranks: distributed.Ranks) -> int:
    """How many of ``count`` examples one rank validates (at least 1, for rates)."""
    return max(1, -(-count // ranks.world_size))
