"""A session's ``core.sessions.Work`` run from the GUI: ``compute`` off the UI thread, ``apply`` back on it.

    start_work(work, self, applied=self._show, failed=self._problem)          # a Task
    job = start_job(work, self, applied=..., failed=...)                       # a Job: progress and cancel
    task = start_work(work, self); task.done.connect(...)                      # done: after apply
    live = LiveWork("morph-strip", self); live.applied.connect(self._show)    # newest wins (sliders)
    live.submit(work)

``applied`` gets what ``apply`` returned; ``failed`` gets (message, traceback), the traceback '' for a
``LatentExplorerError``. ``apply`` is connected first, so the session holds the result by the time handlers
connected to the returned task's or job's ``done`` run. Only ``compute`` and its arguments go to the worker thread; ``apply`` (which holds
the session) stays on the UI thread.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from core.sessions import Work

from .jobs import Job
from .latest import LatestOnly
from .tasks import Task

Applied = Callable[[Any], None]
Failed = Callable[[str, str], None]


def start_work(work: Work, parent: QObject | None, applied: Applied | None = None,
               failed: Failed | None = None) -> Task:
    return _connected(Task(work.compute, *work.args, parent=parent), work, applied, failed).start()


def start_job(work: Work, parent: QObject | None, applied: Applied | None = None, failed: Failed | None = None) -> Job:
    """``work.compute`` is called with ``progress`` and ``cancel`` keywords (see ``gui.background.jobs``);
    connect ``progress`` and ``cancelled`` of the returned job."""
    return _connected(Job(work.compute, *work.args, parent=parent), work, applied, failed).start()


def _connected(runner: Task | Job, work: Work, applied: Applied | None, failed: Failed | None) -> Task | Job:
    """Connect ``runner`` to ``work.apply``; the work (a session's models and data) is let go once the runner has
    delivered, though the runner stays a child of its parent until that goes (kept, every result ever delivered
    stayed in memory)."""
    held = [work]

    def done(result: Any) -> None:
        if held:
            (applied or _ignore)(held.pop().apply(result))

    runner.done.connect(done)
    runner.failed.connect(lambda _message, _tb: held.clear())
    if isinstance(runner, Job):
        runner.cancelled.connect(held.clear)
    if failed is not None:
        runner.failed.connect(failed)
    return runner


def _ignore(_result: Any) -> None:
    """What is applied needs no view (the caller connected ``done``, or nothing)."""


class LiveWork(QObject):
    """Works where only the newest matters, run one at a time in order (``gui.background.latest.LatestOnly``)."""
    applied = Signal(object)  # what apply returned
    failed = Signal(str, str)  # message, traceback

    def __init__(self, name: str, parent: QObject | None = None):
        super().__init__(parent)
        self._works: dict[int, Work] = {}
        self._keys = itertools.count()
        self._runner = LatestOnly(name, self)
        self._runner.done.connect(self._done)
        self._runner.failed.connect(self._failed)

    def submit(self, work: Work | None) -> None:
        """Run ``work`` once the one running now is over, instead of any submitted meanwhile (None: nothing)."""
        if work is not None:
            key = next(self._keys)
            self._works[key] = work
            self._runner.submit(key, work.compute, *work.args)

    def _take(self, key: int) -> Work | None:
        """The work of ``key``; those submitted before it were dropped or have delivered."""
        work = self._works.pop(key, None)
        for older in [k for k in self._works if k < key]:
            del self._works[older]
        return work

    def _done(self, key: int, result: Any) -> None:
        work = self._take(key)
        if work is not None:
            self.applied.emit(work.apply(result))

    def _failed(self, key: int, message: str, tb: str) -> None:
        self._take(key)
        self.failed.emit(message, tb)
