"""Latest-value-wins work off the UI thread, for live previews that follow a slider.

    runner = LatestOnly(parent=self)
    runner.done.connect(self._show)          # called on the UI thread with (tag, result)
    runner.submit(tag, decode, model, z)     # replaces any request that has not started yet

One background thread runs one call at a time; requests that arrive while it is busy replace each
other, so when the hand stops, the picture shows where it stopped, never a queue of stale positions.
The thread ends when nothing is left to do (the next request starts another), so none lingers.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from core.threads import start_thread

from .tasks import on_ui_thread, outcome, refuse_qt_objects


class _Mailbox:
    """Holds the newest request only, and whether a thread is serving the box."""

    def __init__(self):
        self._lock = threading.Lock()
        self._item: tuple | None = None
        self._serving = self._closed = False

    def put(self, item: tuple) -> bool:
        """Leave ``item`` (replacing one not yet taken); True if a thread must now be started to serve it."""
        with self._lock:
            self._item = item
            start = not (self._serving or self._closed)
            self._serving |= start
            return start

    def take(self) -> tuple | None:
        """The request to run next; None when there is none (or the box is closed): the serving thread ends."""
        with self._lock:
            item, self._item = self._item, None
            if item is None or self._closed:
                self._serving = False
                return None
            return item

    def close(self, *_args) -> None:
        with self._lock:
            self._closed, self._item = True, None


class LatestOnly(QObject):
    done = Signal(object, object)  # tag, result
    failed = Signal(object, str, str)  # tag, message, traceback ('' for a LatentExplorerError)

    def __init__(self, name: str = "latest-only", parent: QObject | None = None):
        super().__init__(parent)
        self._name = name
        self._mailbox = _Mailbox()
        self.destroyed.connect(self._mailbox.close)

    def submit(self, tag: object, fn: Callable[..., Any], *args: Any) -> None:
        refuse_qt_objects(fn, args)
        if self._mailbox.put((tag, fn, args)):
            start_thread(_serve, self._mailbox, on_ui_thread(self._deliver), name=self._name)

    def close(self) -> None:
        self._mailbox.close()

    def _deliver(self, tag: object, ok: bool, value: object, message: str, tb: str) -> None:
        if ok:
            self.done.emit(tag, value)
        else:
            self.failed.emit(tag, message, tb)


def _serve(mailbox: _Mailbox, deliver: Callable[..., None]) -> None:
    """A runner's thread: one request at a time, while there are any (it holds no Qt object)."""
    while (item := mailbox.take()) is not None:
        tag, fn, args = item
        deliver(tag, *outcome(fn, args))
