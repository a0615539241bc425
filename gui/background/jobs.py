"""Long work off the UI thread, with progress and a Cancel button: a ``gui.background.tasks.Task`` that passes the
function ``progress`` and ``cancel`` keywords (the protocol of ``core.image.embedding`` and ``core.image.projection``).

    job = Job(compute_map, model, data, "umap", parent=self)   # called as fn(*args, progress=, cancel=)
    job.progress.connect(bar.update)      # (fraction in [0, 1] or -1 when unknown, text), on the UI thread
    job.done.connect(self._on_map)
    job.failed.connect(self._on_problem)  # (message, traceback)
    job.cancelled.connect(...)            # after job.cancel(), instead of done / failed
    job.start()

The function checks ``cancel.is_set()`` between steps and raises ``core.errors.Cancelled``; a job
cancelled after it finished still reports ``cancelled``, never a stale result. Like every task it
counts in ``gui.background.tasks.running_tasks()`` until it has delivered. A job is cancelled when it is deleted
(with its parent panel, say), so its thread ends soon after.
"""
from __future__ import annotations

import functools
import threading
import time
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from .tasks import Task, on_ui_thread

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
        event = self.cancel_event
        self.destroyed.connect(lambda *_args: event.set())
        report = _Throttled(on_ui_thread(self._on_progress))
        self._task = Task(functools.partial(fn, *args, progress=report, cancel=event), parent=self)
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

    def _on_progress(self, fraction: float, text: str) -> None:
        if not self.finished and not self.cancel_event.is_set():
            self.progress.emit(fraction, text)

    def _end(self, signal, *values) -> None:
        self.finished = True
        if self.cancel_event.is_set():
            self.cancelled.emit()
        else:
            signal.emit(*values)


class _Throttled:
    """The ``progress`` callback a job's function calls on its thread: passes stage changes (fraction -1)
    and the end on at once, counts at most every PROGRESS_INTERVAL_S."""

    def __init__(self, forward: Callable[[float, str], None]):
        self._forward = forward
        self._last = 0.0

    def __call__(self, fraction: float, text: str) -> None:
        now = time.monotonic()
        if 0.0 <= fraction < 1.0 and now - self._last < PROGRESS_INTERVAL_S:
            return
        self._last = now
        self._forward(float(fraction), str(text))
