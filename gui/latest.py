"""Latest-value-wins work off the UI thread, for live previews that follow a slider.

    runner = LatestOnly(parent=self)
    runner.done.connect(self._show)          # called on the UI thread with (tag, result)
    runner.submit(tag, decode, model, z)     # replaces any request that has not started yet

One background thread runs one call at a time; requests that arrive while it is busy replace each
other, so when the hand stops, the picture shows where it stopped, never a queue of stale positions.
"""
from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from core.errors import LatentExplorerError

from .tasks import post


class _Mailbox:
    """Holds the newest request only; ``take`` waits for one (None once closed)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._item: tuple | None = None
        self._closed = False

    def put(self, item: tuple) -> None:
        with self._cond:
            self._item = item
            self._cond.notify()

    def take(self) -> tuple | None:
        with self._cond:
            while self._item is None and not self._closed:
                self._cond.wait()
            item, self._item = self._item, None
            return None if self._closed else item

    def close(self, *_args) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()


class LatestOnly(QObject):
    done = Signal(object, object)  # tag, result
    failed = Signal(object, str, str)  # tag, message, traceback ('' for a LatentExplorerError)

    def __init__(self, name: str = "latest-only", parent: QObject | None = None):
        super().__init__(parent)
        self._name = name
        self._mailbox = _Mailbox()
        self._thread: threading.Thread | None = None
        self.destroyed.connect(self._mailbox.close)

    def submit(self, tag: object, fn: Callable[..., Any], *args: Any) -> None:
        self._mailbox.put((tag, fn, args))
        if self._thread is None:
            self._thread = threading.Thread(target=self._main, args=(self._mailbox,), name=self._name, daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._mailbox.close()

    def _main(self, mailbox: _Mailbox) -> None:
        while (item := mailbox.take()) is not None:
            tag, fn, args = item
            try:
                result = (tag, True, fn(*args), "", "")
            except LatentExplorerError as exc:
                result = (tag, False, None, str(exc), "")
            except Exception as exc:  # a bug or a resource problem: hand over the traceback too
                result = (tag, False, None, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            post(self._deliver, *result)

    def _deliver(self, tag: object, ok: bool, value: object, message: str, tb: str) -> None:
        if ok:
            self.done.emit(tag, value)
        else:
            self.failed.emit(tag, message, tb)
