"""A session's ``core.sessions.Work`` run by the GUI: ``compute`` off the UI thread, ``apply`` on it.

    task = run_work(session.inspect_work(i), parent=self)      # a Task: done(result) after apply
    job = run_work(session.map_work(), parent=self, job=True)  # a Job: progress, cancel, cancelled

``apply`` is connected first, so the session holds the result by the time the caller's own ``done``
handlers run. A job passes ``compute`` the ``progress`` and ``cancel`` keywords (see ``jobs``).
"""
from __future__ import annotations

from PySide6.QtCore import QObject

from core.sessions import Work

from .jobs import Job
from .tasks import Task


def run_work(work: Work, parent: QObject, *, job: bool = False) -> Task | Job:
    """Start ``work`` (as a cancellable ``Job`` with ``job``) and return it."""
    runner = (Job if job else Task)(work.compute, *work.args, parent=parent)
    runner.done.connect(work.apply)
    return runner.start()
