"""The thin bridge between the Qt UI and the training worker.

It starts a ``core.runs.worker.TrainingWorker`` and drains its event queue from a QTimer on the UI thread,
re-emitting each event as a Qt signal. Nothing here computes: the UI thread never trains or waits.
It can instead follow a run another process writes (``core.runs.follow``), with the same signals, until that
process ends (state ``finished`` or ``stopped``) or the user lets it go. ``start_process`` starts a run in
processes of its own (``core.runs.launch``) and follows its folder as soon as the run writes it; Stop then asks the
processes to stop (SIGINT: they save a checkpoint at the current step), and the window closing leaves them
training.
"""
from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from core.runs.follow import RunFollower
from core.runs.launch import RunProcesses
from core.image.trainer import Run
from core.runs.worker import TrainingWorker

POLL_MS = 33


class TrainingBridge(QObject):
    metrics = Signal(dict)  # one metrics row (train or val)
    preview = Signal(dict)  # image grids: uint8 arrays (N, C, H, W) under 'original', 'reconstruction', 'samples'
    state_changed = Signal(str)  # running / paused / stopped / finished / error / idle
    checkpoint_saved = Signal(str)  # path
    error = Signal(str, str)  # message, traceback ('' for expected errors)
    started = Signal(object)  # the Run that started
    following = Signal(str)  # the run folder now followed
    notice = Signal(str)  # something worth a line in the status bar (a followed log's unreadable lines, ...)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.worker: TrainingWorker | None = None
        self.follower: RunFollower | None = None
        self.process: RunProcesses | None = None  # a run started here in processes of its own
        self.process_folder: Path | None = None
        self._interrupted = False  # Stop asked the processes to stop
        self.state = "idle"
        self.last_checkpoint: str | None = None  # the newest checkpoint the worker saved
        self._follow_problem = ""
        self._skipped_shown = 0
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

    @property
    def busy(self) -> bool:
        return self.worker is not None and self.worker.alive

    def start(self, run: Run) -> None:
        if self.busy:
            raise RuntimeError("a training run is already going")
        self._let_go_of_follower()
        self.last_checkpoint = None
        self.worker = TrainingWorker(run).start()
        self._timer.start()
        self.started.emit(run)

    @property
    def process_alive(self) -> bool:
        """Whether a run started here in processes of its own still runs."""
        return self.process is not None and any(p.poll() is None for p in self.process.procs)

    def start_process(self, argv: list[str], nproc: int, folder: Path) -> RunProcesses:
        """Start ``python main.py ARGV`` in ``nproc`` processes (their output in ``folder/logs``) and follow
        ``folder`` once the run writes it."""
        if self.busy or self.process_alive:
            raise RuntimeError("a training run is already going")
        self._let_go_of_follower()
        self.process_folder, self._interrupted = Path(folder), False
        self.process = RunProcesses(argv, nproc, log_dir=Path(folder) / "logs").start()
        self._timer.start()
        self._set_state("starting")
        return self.process

    def follow(self, run_dir) -> None:
        """Show the run another process writes in ``run_dir``; DataError if it is not a run folder."""
        if self.busy:
            raise RuntimeError("a training run is going")
        follower = RunFollower(run_dir)
        self._let_go_of_follower()
        self.follower, self._follow_problem, self._skipped_shown = follower, "", 0
        self._timer.start()
        self.following.emit(str(run_dir))
        self._set_state("following")

    def pause(self) -> None:
        if self.worker:
            self.worker.pause()

    def resume(self) -> None:
        if self.worker:
            self.worker.resume()

    def stop(self, wait_s: float = 0.0) -> None:
        """Ask the worker to stop (it saves a checkpoint first); optionally wait for it, drain, and say on
        stderr where the run was saved (the window is closing). A followed run is let go (it goes on in its
        own process), unless it is a run started here in processes of its own: those are asked to stop (they
        save a checkpoint first) and followed until they have."""
        if self.process_alive:
            self.process.interrupt()
            self._interrupted = True
        elif self.follower is not None:
            self._let_go_of_follower()
            self._timer.stop()
            self._set_state("stopped")
        if self.worker:
            was_running = self.worker.alive
            self.worker.stop()
            if wait_s:
                self.worker.join(wait_s)
                self._poll()
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

    def _set_state(self, state: str) -> None:
        self.state = state
        self.state_changed.emit(state)

    def _poll(self) -> None:
        if self.follower is not None:
            self._poll_follower()
        if self.process is not None:
            self._poll_process()
        if self.worker is None:
            return
        events = self.worker.drain()
        # Only the newest preview of a batch is worth drawing.
        previews = [e for e in events if e["type"] == "preview"]
        for e in events:
            kind = e["type"]
            if kind == "metrics":
                self.metrics.emit(e)
            elif kind == "preview" and e is previews[-1]:
                self.preview.emit(e)
            elif kind == "state":
                self._set_state(e["state"])
            elif kind == "checkpoint":
                self.last_checkpoint = e["path"]
                self.checkpoint_saved.emit(e["path"])
            elif kind == "error":
                self._set_state("error")
                self.error.emit(e["message"], e.get("traceback", ""))
            elif kind == "done":
                self._timer.stop()
                if self.state in ("running", "paused"):
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
                self.notice.emit(problem)
            return
        self._follow_problem = ""
        if restarted:
            self.following.emit(str(follower.run_dir))  # the curves start over with the log
        for row in rows:
            self.metrics.emit(row)
        if checkpoint is not None:
            self.checkpoint_saved.emit(str(checkpoint))
        if follower.skipped != self._skipped_shown:
            self._skipped_shown = follower.skipped
            self.notice.emit(f"{follower.metrics_path}: skipped {follower.skipped} unreadable line(s)")
        if follower.ended:  # its process let go of the run: finished or stopped
            self._let_go_of_follower()
            if self.process is None:
                self._timer.stop()
            self._set_state(follower.ended)

    def _poll_process(self) -> None:
        """Follow the started run's folder once its log is there; when every process has ended (and the
        follower has read the end), say how a run that failed ended."""
        proc, folder = self.process, self.process_folder
        ended = all(p.poll() is not None for p in proc.procs)
        if self.state == "starting" and (folder / "metrics.jsonl").is_file():
            self.follow(folder)
            return
        if not ended or self.follower is not None:
            return
        code = proc.poll()
        self.process = None
        self._timer.stop()
        if code != 0 and not self._interrupted:
            self._set_state("error")
            self.error.emit(f"{folder}: {proc.failure or f'the run ended with exit code {code}'}", "")
        elif self.state == "starting":
            self._set_state("stopped")
