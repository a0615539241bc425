"""Run a function off the UI thread and get its result back on the UI thread, by signal.

    task = Task(load_dataset, "mnist", parent=self)
    task.done.connect(self._on_data)        # called with the return value
    task.failed.connect(self._on_problem)   # called with (message, traceback); '' for expected errors
    task.start()

The thread emits one internal signal on the ``Task`` (which lives on the UI thread), so Qt queues the
delivery into the UI event loop; ``done``/``failed`` then fire on the UI thread. A task whose parent
is deleted before it finishes delivers nothing.
"""
from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal, Slot

from core.errors import LatentExplorerError

_running: dict[int, "Task"] = {}  # keeps started tasks alive until they deliver or their parent goes


def running_tasks() -> int:
    """How many tasks have started and will still deliver (tasks whose parent was deleted do not count)."""
    return len(_running)


class Task(QObject):
    done = Signal(object)
    failed = Signal(str, str)  # message, traceback ('' for a LatentExplorerError: a user-facing problem)
    _finished = Signal(bool, object, str, str)  # thread -> UI thread: ok, value, message, traceback

    def __init__(self, fn: Callable[..., Any], *args: Any, parent: QObject | None = None):
        super().__init__(parent)
        self._fn, self._args = fn, args
        self._finished.connect(self._deliver)  # receiver lives on the UI thread: a queued connection

    def start(self) -> "Task":
        key = id(self)
        _running[key] = self
        self.destroyed.connect(lambda *_args: _running.pop(key, None))
        threading.Thread(target=self._main, name=f"task-{getattr(self._fn, '__name__', 'fn')}", daemon=True).start()
        return self

    def _main(self) -> None:
        try:
            result = (True, self._fn(*self._args), "", "")
        except LatentExplorerError as exc:
            result = (False, None, str(exc), "")
        except Exception as exc:  # a bug or a resource problem: hand over the traceback too
            result = (False, None, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        try:
            self._finished.emit(*result)
        except RuntimeError:  # the Qt object is gone (its parent was deleted): nobody to tell
            pass

    @Slot(bool, object, str, str)
    def _deliver(self, ok: bool, value: object, message: str, tb: str) -> None:
        _running.pop(id(self), None)
        if ok:
            self.done.emit(value)
        else:
            self.failed.emit(message, tb)
