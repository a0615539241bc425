"""The thin Qt adapter over the training session (``core.sessions.training``, which holds run control: the
worker thread, runs in processes of their own, followed run folders, pause and stop).

A QTimer on the UI thread polls the session while it has anything to watch, and each thing the session reports
comes out as a Qt signal. Nothing here computes or decides: the UI thread never trains or waits.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from core.sessions.training import TrainingSession

POLL_MS = 33


class TrainingBridge(QObject):
    metrics = Signal(dict)  # one metrics row (train or val)
    preview = Signal(dict)  # image grids: uint8 arrays (N, C, H, W) under 'original', 'reconstruction', 'samples'
    state_changed = Signal(str)  # starting / running / paused / stopping / following / stopped / finished / error
    checkpoint_saved = Signal(str)  # the path of a checkpoint the run trained here saved
    followed_checkpoint = Signal(str, bool)  # a followed run's: path, whether its first since following began
    error = Signal(str, str)  # message, traceback ('' for expected errors)
    started = Signal(object)  # the Run that started
    launched = Signal(str)  # the folder of a run started in processes of its own (until it writes its log)
    following = Signal(str)  # the run folder now followed
    notice = Signal(str)  # something worth a line in the status bar (a followed log's unreadable lines, ...)

    def __init__(self, parent: QObject | None = None, session: TrainingSession | None = None):
        super().__init__(parent)
        self.session = session or TrainingSession()
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self.session.listen(self._forward)

    def _forward(self, kind: str, what) -> None:
        if kind == "checkpoint":
            if what.followed:
                self.followed_checkpoint.emit(what.path, what.first)
            else:
                self.checkpoint_saved.emit(what.path)
        elif kind == "error":
            self.error.emit(*what)
        elif kind == "state":
            self.state_changed.emit(what)
        else:
            getattr(self, kind).emit(what)
        if self.session.active and not self._timer.isActive():
            self._timer.start()

    def _poll(self) -> None:
        self.session.poll()
        if not self.session.active:
            self._timer.stop()

    # --- the session's controls and state, for the panels ------------------------------------
    def start(self, run) -> None:
        self.session.start(run)

    def start_process(self, argv: list[str], nproc: int, folder: Path):
        return self.session.start_process(argv, nproc, folder)

    def follow(self, run_dir) -> None:
        self.session.follow(run_dir)

    def pause(self) -> None:
        self.session.pause()

    def resume(self) -> None:
        self.session.resume()

    def stop(self, wait_s: float = 0.0) -> None:
        self.session.stop(wait_s)

    @property
    def state(self) -> str:
        return self.session.state

    @property
    def busy(self) -> bool:
        return self.session.busy

    @property
    def process_alive(self) -> bool:
        return self.session.process_alive

    @property
    def worker(self):
        return self.session.worker

    @property
    def follower(self):
        return self.session.follower

    @property
    def process(self):
        return self.session.process

    @property
    def process_folder(self) -> Path | None:
        return self.session.process_folder
