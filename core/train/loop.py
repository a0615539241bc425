"""The training loop every trainer runs (images and audio alike), with its settings and its controls.

The loop knows nothing of threads or Qt: it calls ``on_event(dict)`` for every logged step, validation
pass, preview and state change, and checks ``control`` between steps for pause/stop. ``core.runs.worker`` runs
it in a background thread; the command line runs it in the foreground. A trainer fills in the hooks:
``steps_per_epoch``, ``batch`` (step ``i`` of an epoch, the same again when resumed), ``step_metrics``
(figures of the last batch for its train row), ``validation_size``, ``validation_sums`` and ``validation_row``
(one validation pass, in parts that ranks of a distributed run can add up), ``preview`` and
``train_state_extra``.

Evaluation costs little at any batch size: validation, the train rows' figures, previews and checkpoint
snapshots together take at most ``eval_share`` of the wall time (``core.train.evaluation``; checkpoints are
written by another thread: ``core.train.saving``). Steps run through ``core.train.fast_step`` (a CUDA graph of
the whole step where possible; ``core.train.step_setup``, ``core.train.batch_choice``). In a distributed run
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
from dataclasses import dataclass, fields
from typing import Callable

import torch

from models import family

from ..errors import LatentExplorerError, TrainingError
from . import distributed
from .batch_choice import BatchChoice
from .device import pick_device, training_threads
from .evaluation import EvalBudget, Evaluation
from .fast_step import LossMeans, StepRunner
from .folder import RunFolder
from .metrics import MetricsLog
from .saver import BackgroundSaver
from .saving import Saving
from .schedule import SCHEDULES, rate_share, set_rate_share
from .status import write_status
from .step_setup import StepSetup

PRECISIONS = ("fp32", "bf16")


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
    lr_schedule: str = "constant"  # 'cosine': each epoch at a share of lr falling along half a cosine (schedule.py)
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
        if self.lr_schedule not in SCHEDULES:
            raise LatentExplorerError(f"lr schedule must be one of {', '.join(SCHEDULES)}, got {self.lr_schedule!r}")
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


class TrainerBase(Saving, Evaluation, StepSetup, BatchChoice):
    """The loop itself, with the NaN guard, pause and stop; saving and restoring (``Saving``), the evaluation
    budget (``Evaluation``), how steps run (``StepSetup``) and the batch chosen for throughput (``BatchChoice``)
    come from its parts. A subclass builds ``self.model`` and ``self.optimizers`` after calling
    ``__init__`` (then ``restore`` if resuming) and implements the hooks."""

    #: what one training example is, for rates: 'images', 'clips'
    unit = "images"
    #: where validation happens, for the NaN message: 'on the validation images'
    validation_place = "on the validation split"

    def __init__(self, run, on_event: Callable[[dict], None] = lambda e: None, control: Control | None = None):
        """``run``: a ``core.train.run.TrainingRun``."""
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
        self._rate_scale = 1.0  # times the schedule's share (scale_rate: a time budget's cooldown)

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

    def scale_rate(self, share: float) -> None:
        """From now on, train at ``share`` of the rate the schedule gives (``core.runs.quicktrain.train_for``'s
        cooldown at the end of a time budget). Call it from ``on_event``, on the training thread."""
        self._rate_scale = share
        self._set_rate()

    def _set_rate(self) -> None:
        share = rate_share(self.cfg.lr_schedule, self.epoch, self.cfg.epochs) * self._rate_scale
        if set_rate_share(self.optimizers, share):
            self.step_runner.forget_graph()

    # --- the loop -------------------------------------------------------------------------
    def train(self, overwrite: bool = False) -> str:
        """Train to ``config.epochs``; returns how it ended: ``finished`` or ``stopped``.

        The run folder is held for the whole run (``core.train.folder``): a fresh run refuses a folder that
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
        self._last_preview, self._preview_cost, self._preview_step = 0.0, 0.0, -1
        self._last_save: float | None = None  # no checkpoint yet in this session
        self._session_start = self._trained_since = time.perf_counter()
        self._budget = EvalBudget(cfg.eval_share)
        self._val_cost: float | None = None  # seconds per validation example on this rank
        self._save_costs = [0.0]  # seconds of the last saves
        self._setup_told: dict | None = None
        self.log = self._open_log()
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
                self._set_rate()
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
            self._last_preview_of_run()
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

    def _status(self, state: str, **fields) -> None:
        """Record the run's state in its folder's ``status.json`` (rank 0; see ``core.train.status``)."""
        if self.run.out_dir and self.ranks.main:
            write_status(self.run.out_dir, state, **fields)

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
            self._last_preview_of_run()
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

    def _check_finite(self, loss: float, where: str) -> None:
        if not math.isfinite(loss):
            self._saver.wait()
            last = self.checkpoint_path
            raise TrainingError(f"the loss became {loss} {where}; stopped. Try a lower learning rate"
                                + (f"; the last good checkpoint is {last}" if last and last.exists() else ""))
