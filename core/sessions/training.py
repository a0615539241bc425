"""Run control, headless: the run that trains in this process (``core.runs.worker``, a thread), in processes of
its own (``core.runs.launch``) or in another process whose folder is followed (``core.runs.follow``); where
the Setup session's Start trains (its launch choice: ``launch``); pause, resume and stop; which run a
double-click in the runs list follows.

Whoever drives it (the GUI's ``gui.bridge``, a test) calls ``poll()`` at its own pace while ``active``; each
poll hands the listeners what happened since, as ``listener(kind, what)``: ``metrics`` (a row), ``preview``
(the newest image grids only), ``state`` (``starting``, ``running``, ``paused``, ``stopping``, ``following``,
``stopped``, ``finished``, ``error``), ``checkpoint`` (a ``Checkpoint``), ``error`` ((message, traceback)),
``started`` (the run started here), ``launched`` (the folder of a run started in processes of its own),
``following`` (the folder now followed, again when its log starts over) and ``notice`` (a line for the status
bar).

Stop stops whatever trains: the worker (it saves first), the processes started here (SIGINT: they save at the
current step), or a followed run that this app started in processes of its own before the window was reopened
(its folder's lock names the live process on this host: the same SIGINT, by that pid). The state says
``stopped`` only once that process has let go of the folder. Any other followed run (``python main.py train``
in a terminal, another machine's) is let go instead (``stop_lets_go``).
"""
from __future__ import annotations

import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import LatentExplorerError
from ..runs.follow import RunFollower
from ..runs.launch import RunProcesses
from ..runs.worker import TrainingWorker
from ..train.folder import METRICS_NAME, RunFolder
from ..train.run import TrainingRun
from . import Work
from .command_line import train_argv
from .setup import SetupSession

Listener = Callable[[str, Any], None]
BUSY_MESSAGE = "A training run is going here; stop it first."
LOG_DIR = "logs"  # in a run folder: the output of the processes of its own that this app started


@dataclass(frozen=True)
class Checkpoint:
    path: str
    followed: bool = False  # a followed run's (its process wrote it)
    first: bool = False  # the followed run's first since following began


class TrainingSession:
    def __init__(self):
        self.worker: TrainingWorker | None = None
        self.follower: RunFollower | None = None
        self.process: RunProcesses | None = None  # a run started here in processes of its own
        self.process_folder: Path | None = None
        self.owner_pid: int | None = None  # the live process on this host that trains the followed run
        self.state = "idle"
        self.last_checkpoint: str | None = None  # the newest checkpoint the worker saved
        self._interrupted = False  # Stop asked the processes to stop
        self._follow_problem = ""
        self._skipped_shown = 0
        self._followed_checkpoints = 0
        self._watching_worker = False  # until its thread has said it is done
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _emit(self, kind: str, what: Any) -> None:
        for listener in list(self._listeners):
            listener(kind, what)

    # --- what runs ------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """Whether the worker thread trains a run."""
        return self.worker is not None and self.worker.alive

    @property
    def process_alive(self) -> bool:
        """Whether a run started here in processes of its own still runs."""
        return self.process is not None and any(p.poll() is None for p in self.process.procs)

    @property
    def active(self) -> bool:
        """Whether ``poll`` has anything to watch."""
        return self._watching_worker or self.follower is not None or self.process is not None

    @property
    def stop_lets_go(self) -> bool:
        """Whether Stop only lets the followed run go (another machine's, or one whose process is unknown)."""
        return self.follower is not None and self.process is None and self.owner_pid is None

    # --- starting -------------------------------------------------------------------------
    def start(self, run: TrainingRun) -> None:
        """Train ``run`` (an image or an audio run) in the worker thread."""
        if self.busy or self.process_alive:
            raise LatentExplorerError("A training run is still going")
        self._let_go_of_follower()
        self.last_checkpoint = None
        self.worker = TrainingWorker(run).start()
        self._watching_worker = True
        self._emit("started", run)

    def start_process(self, argv: list[str], nproc: int, folder: Path) -> RunProcesses:
        """Start ``python main.py ARGV`` in ``nproc`` processes (their output in ``folder/logs``) and follow
        ``folder`` once the run writes it."""
        if self.busy or self.process_alive:
            raise LatentExplorerError("A training run is still going")
        self._let_go_of_follower()
        self.process_folder, self._interrupted = Path(folder), False
        self.process = RunProcesses(argv, nproc, log_dir=Path(folder) / LOG_DIR).start()
        self._emit("launched", str(folder))
        self._set_state("starting")
        return self.process

    def launch(self, setup: SetupSession, new_folder: Callable[[str, str], Path]) -> Work | None:
        """Start what the Setup session's Start means, where its launch choice says: in processes of its own
        at once (None), or here: the Work that builds the run (slow: the data's statistics, a checkpoint) and,
        applied, trains it. LatentExplorerError while a run trains, or naming what the form gets wrong."""
        if self.busy or self.process_alive:
            raise LatentExplorerError("A training run is still going")
        if setup.own_process:
            argv, folder = train_argv(setup, new_folder)
            self.start_process(argv, setup.processes, folder)
            return None
        work = setup.start(new_folder)
        return Work(work.what, work.compute, work.args, lambda run: self.start(work.apply(run)))

    def follow(self, run_dir: str | Path) -> None:
        """Show the run another process writes in ``run_dir`` (the runs list's double-click, File ▸ Follow);
        LatentExplorerError while a run trains here, DataError if it is not a run folder."""
        if self.busy or (self.process_alive and Path(run_dir) != self.process_folder):
            raise LatentExplorerError(BUSY_MESSAGE)
        follower = RunFollower(run_dir)
        self._let_go_of_follower()
        self.follower, self._follow_problem, self._skipped_shown = follower, "", 0
        self._followed_checkpoints = 0
        if self.process is None:
            self.owner_pid, self._interrupted = local_owner(Path(run_dir)), False
        self._emit("following", str(run_dir))
        self._set_state("following")

    # --- controls -------------------------------------------------------------------------
    def pause(self) -> None:
        if self.worker:
            self.worker.pause()

    def resume(self) -> None:
        if self.worker:
            self.worker.resume()

    def stop(self, wait_s: float = 0.0) -> None:
        """Stop what trains (see the module's words). With ``wait_s`` (the window is closing): wait that long
        for the worker, drain it, and say on stderr where the run was saved."""
        if self.process_alive:
            self.process.interrupt()
            self._interrupted = True
            self._set_state("stopping")
        elif self.follower is not None and self.owner_pid is not None:
            if not self._interrupted:  # (once: a second SIGINT would end it unsaved)
                self._interrupted = True
                try:
                    os.kill(self.owner_pid, signal.SIGINT)  # it saves at its current step, then lets go of the folder
                    self._set_state("stopping")
                except ProcessLookupError:
                    pass  # it ended meanwhile: the follower says how
        elif self.follower is not None:
            self._let_go_of_follower()
            self._set_state("stopped")
        if self.worker:
            was_running = self.worker.alive
            self.worker.stop()
            if wait_s:
                self.worker.join(wait_s)
                self.poll()
                if was_running:
                    self._say_where_it_stopped()

    def _say_where_it_stopped(self) -> None:
        """On stderr (the window is closing): where the stopped run was saved, or will be once its step is done."""
        out = self.worker.run.out_dir
        if self.worker.alive and out is not None:  # a long step: the program waits for the thread as it ends
            print(f"training is stopping; it saves {out / 'checkpoint.pt'} when its current step is done",
                  file=sys.stderr)
        elif self.last_checkpoint:
            print(f"training stopped; saved {self.last_checkpoint}", file=sys.stderr)

    def _let_go_of_follower(self) -> None:
        if self.follower is not None:
            self.follower.close()
            self.follower = None
        self.owner_pid = None

    def _set_state(self, state: str) -> None:
        self.state = state
        self._emit("state", state)

    # --- what happened --------------------------------------------------------------------
    def poll(self) -> None:
        """Hand the listeners what the worker, the followed folder and the processes did since the last call."""
        if self.follower is not None:
            self._poll_follower()
        if self.process is not None:
            self._poll_process()
        if self._watching_worker:
            self._poll_worker()

    def _poll_worker(self) -> None:
        events = self.worker.drain()
        previews = [e for e in events if e["type"] == "preview"]  # only the newest is worth drawing
        for e in events:
            kind = e["type"]
            if kind == "metrics" or (kind == "preview" and e is previews[-1]):
                self._emit(kind, e)
            elif kind == "state":
                self._set_state(e["state"])
            elif kind == "checkpoint":
                self.last_checkpoint = e["path"]
                self._emit("checkpoint", Checkpoint(e["path"]))
            elif kind == "error":
                self._set_state("error")
                self._emit("error", (e["message"], e.get("traceback", "")))
            elif kind == "done":
                self._watching_worker = False
                if self.state in ("running", "paused"):  # (no final state came)
                    self._set_state("stopped")

    def _poll_follower(self) -> None:
        """New rows and checkpoints of the followed run. Nothing the writer does ends the following: an
        unreadable folder is reported once and tried again, unreadable lines are counted."""
        follower = self.follower
        try:
            rows, checkpoint, restarted = follower.poll()
        except OSError as exc:
            problem = f"Cannot read {follower.run_dir} for now ({exc.strerror or exc}); still following"
            if problem != self._follow_problem:
                self._follow_problem = problem
                self._emit("notice", problem)
            return
        self._follow_problem = ""
        if restarted:
            self._emit("following", str(follower.run_dir))  # the curves start over
        for row in rows:
            self._emit("metrics", row)
        if checkpoint is not None:
            self._followed_checkpoints += 1
            self._emit("checkpoint", Checkpoint(str(checkpoint), followed=True, first=self._followed_checkpoints == 1))
        if follower.skipped != self._skipped_shown:
            self._skipped_shown = follower.skipped
            self._emit("notice", f"{follower.metrics_path}: skipped {follower.skipped} unreadable line(s)")
        if follower.ended:  # its process let go of the run: finished or stopped
            self._let_go_of_follower()
            self._set_state(follower.ended)

    def _poll_process(self) -> None:
        """Follow the started run's folder once its log is there; when every process has ended (and the
        follower has read the end), say how a run that failed ended."""
        proc, folder = self.process, self.process_folder
        ended = all(p.poll() is not None for p in proc.procs)
        if self.state in ("starting", "stopping") and self.follower is None and (folder / METRICS_NAME).is_file():
            stopping = self.state == "stopping"
            self.follow(folder)
            if stopping:
                self._set_state("stopping")
            return
        if not ended or self.follower is not None:
            return
        code = proc.poll()
        self.process = None
        if code != 0 and not self._interrupted:
            self._set_state("error")
            self._emit("error", (f"{folder}: {proc.failure or f'the run ended with exit code {code}'}", ""))
        elif self.state in ("starting", "stopping"):
            self._set_state("stopped")


def local_owner(folder: Path) -> int | None:
    """The pid of the live process on this host that trains ``folder`` in a process of its own that this app
    started (its output is in ``folder/logs``); None for any other."""
    owner = RunFolder(folder).state().owner
    if owner is None or owner.host != socket.gethostname() or owner.pid == os.getpid() \
            or not (folder / LOG_DIR).is_dir():
        return None
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return owner.pid
