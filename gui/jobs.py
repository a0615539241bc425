"""Long work off the UI thread, with progress and a Cancel button: a ``gui.tasks.Task`` that passes the
function ``progress`` and ``cancel`` keywords (the protocol of ``core.embedding`` and ``core.projection``).

    job = Job(compute_map, model, data, "umap", parent=self)   # called as fn(*args, progress=, cancel=)
    job.progress.connect(bar.update)      # (fraction in [0, 1] or -1 when unknown, text), on the UI thread
    job.done.connect(self._on_map)
    job.failed.connect(self._on_problem)  # (message, traceback)
    job.cancelled.connect(...)            # after job.cancel(), instead of done / failed
    job.start()

The function checks ``cancel.is_set()`` between steps and raises ``core.errors.Cancelled``; a job
cancelled after it finished still reports ``cancelled``, never a stale result. Like every task it
counts in ``gui.tasks.running_tasks()`` until it has delivered.
"""
from __future__ import annotations

import functools
import threading
import time
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from .tasks import Task, post

#: Least time between two progress counts.
PROGRESS_INTERVAL_S = 0.05


class Job(QObject):
    progress = Signal(float, str)
    done = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()

    def __init__(self, fn: Callable[..., Any], *args: Any, parent: QObject | None = None):
        super().__init__(parent)
        self.cancel_event = threading.Event()
        self.finished = False
        self._last_report = 0.0
        self._task = Task(functools.partial(fn, *args, progress=self._report, cancel=self.cancel_event), parent=self)
        self._task.done.connect(lambda value: self._end(self.done, value))
        self._task.failed.connect(lambda message, tb: self._end(self.failed, message, tb))

    def start(self) -> "Job":
        self._task.start()
        return self

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def running(self) -> bool:
        return not self.finished

    def _report(self, fraction: float, text: str) -> None:
        """Called by the function, on its thread: forward stage changes (fraction -1) and the end at once,
        counts at most every PROGRESS_INTERVAL_S."""
        now = time.monotonic()
        if 0.0 <= fraction < 1.0 and now - self._last_report < PROGRESS_INTERVAL_S:
            return
        self._last_report = now
        post(self._on_progress, float(fraction), str(text))

    def _on_progress(self, fraction: float, text: str) -> None:
        if not self.finished and not self.cancel_event.is_set():
            self.progress.emit(fraction, text)

    def _end(self, signal, *values) -> None:
        self.finished = True
        if self.cancel_event.is_set():
            self.cancelled.emit()
        else:
            signal.emit(*values)
