"""The thin bridge between the Qt UI and the training worker.

It starts a ``core.worker.TrainingWorker`` and drains its event queue from a QTimer on the UI thread,
re-emitting each event as a Qt signal. Nothing here computes: the UI thread never trains or waits.
It can instead follow a run another process writes (``core.follow``), with the same signals, until that
process ends (state ``finished`` or ``stopped``) or the user lets it go.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from core.follow import RunFollower
from core.trainer import Run
from core.worker import TrainingWorker

POLL_MS = 33


class TrainingBridge(QObject):
    metrics = Signal(dict)  # one metrics row (train or val)
    preview = Signal(dict)  # image grids: uint8 arrays (N, C, H, W) under 'original', 'reconstruction', 'samples'
    state_changed = Signal(str)  # running / paused / stopped / finished / error / idle
    checkpoint_saved = Signal(str)  # path
    error = Signal(str, str)  # message, traceback ('' for expected errors)
    started = Signal(object)  # the Run that started
    following = Signal(str)  # the run folder now followed

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.worker: TrainingWorker | None = None
        self.follower: RunFollower | None = None
        self.state = "idle"
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

    @property
    def busy(self) -> bool:
        return self.worker is not None and self.worker.alive

    def start(self, run: Run) -> None:
        if self.busy:
            raise RuntimeError("a training run is already going")
        self.follower = None
        self.worker = TrainingWorker(run).start()
        self._timer.start()
        self.started.emit(run)

    def follow(self, run_dir) -> None:
        """Show the run another process writes in ``run_dir``; DataError if it is not a run folder."""
        if self.busy:
            raise RuntimeError("a training run is going")
        self.follower = RunFollower(run_dir)
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
        """Ask the worker to stop (it saves a checkpoint first); optionally wait for it and drain. A followed
        run is let go (it goes on in its own process)."""
        if self.follower is not None:
            self.follower = None
            self._timer.stop()
            self._set_state("stopped")
        if self.worker:
            self.worker.stop()
            if wait_s:
                self.worker.join(wait_s)
                self._poll()

    def _set_state(self, state: str) -> None:
        self.state = state
        self.state_changed.emit(state)

    def _poll(self) -> None:
        if self.follower is not None:
            try:
                rows, checkpoint, restarted = self.follower.poll()
            except (OSError, ValueError) as exc:  # unreadable, or a line that is not JSON
                self.follower = None
                self._set_state("error")
                self.error.emit(f"Stopped following the run: {exc}", "")
                return
            if restarted:
                self.following.emit(str(self.follower.run_dir))  # the curves start over with the log
            for row in rows:
                self.metrics.emit(row)
            if checkpoint is not None:
                self.checkpoint_saved.emit(str(checkpoint))
            if self.follower.ended:  # its process let go of the run: finished or stopped
                ended, self.follower = self.follower.ended, None
                self._timer.stop()
                self._set_state(ended)
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
                self.checkpoint_saved.emit(e["path"])
            elif kind == "error":
                self._set_state("error")
                self.error.emit(e["message"], e.get("traceback", ""))
            elif kind == "done":
                self._timer.stop()
                if self.state in ("running", "paused"):
                    self._set_state("stopped")
