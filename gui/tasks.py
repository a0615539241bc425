"""Run a function off the UI thread and get its result back on the UI thread, by signal.

    task = Task(load_dataset, "mnist", parent=self)
    task.done.connect(self._on_data)        # called with the return value
    task.failed.connect(self._on_problem)   # called with (message, traceback); '' for expected errors
    task.start()

The worker thread never touches the ``Task``: it hands the result to one dispatcher object that lives
on the UI thread for the whole session (so an emit can never race with a deletion), and Qt queues the
delivery into the UI event loop. A task whose parent is deleted before it finishes delivers nothing.
"""
from __future__ import annotations

import functools
import itertools
import threading
import traceback
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Signal, Slot

from core.errors import LatentExplorerError

_running: dict[int, "Task"] = {}  # started tasks that will still deliver, by key; keeps them alive
_keys = itertools.count()


def running_tasks() -> int:
    """How many tasks have started and will still deliver (tasks whose parent was deleted do not count)."""
    return len(_running)


class _Dispatcher(QObject):
    """Receives results from worker threads; created on the UI thread and never deleted."""
    result = Signal(int, bool, object, str, str)  # key, ok, value, message, traceback
    call = Signal(object)  # a bound method (with its arguments) to run on the UI thread

    def __init__(self):
        super().__init__()
        self.result.connect(self._deliver)  # receiver lives on the UI thread: a queued connection
        self.call.connect(self._call)

    @Slot(object)
    def _call(self, bound: functools.partial) -> None:
        owner = getattr(bound.func, "__self__", None)
        if owner is None or shiboken6.isValid(owner):
            bound()

    @Slot(int, bool, object, str, str)
    def _deliver(self, key: int, ok: bool, value: object, message: str, tb: str) -> None:
        task = _running.pop(key, None)
        if task is None:
            return  # its parent was deleted meanwhile
        if ok:
            task.done.emit(value)
        else:
            task.failed.emit(message, tb)


_dispatcher: _Dispatcher | None = None


def _the_dispatcher() -> _Dispatcher:
    """The dispatcher, created on first use (from any thread) and living on the UI thread."""
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = _Dispatcher()
        _dispatcher.moveToThread(QCoreApplication.instance().thread())
    return _dispatcher


def post(method: Callable[..., Any], *args: Any) -> None:
    """From any thread, run the bound ``method(*args)`` on the UI thread, unless its Qt object has been
    deleted by then. Worker threads use this instead of emitting on objects the UI thread may delete."""
    try:
        _the_dispatcher().call.emit(functools.partial(method, *args))
    except RuntimeError:  # the application is shutting down: nobody is left to tell
        pass


def _work(key: int, fn: Callable[..., Any], args: tuple, dispatcher: _Dispatcher) -> None:
    try:
        result = (True, fn(*args), "", "")
    except LatentExplorerError as exc:
        result = (False, None, str(exc), "")
    except Exception as exc:  # a bug or a resource problem: hand over the traceback too
        result = (False, None, f"{type(exc).__name__}: {exc}", traceback.format_exc())
    try:
        dispatcher.result.emit(key, *result)
    except RuntimeError:  # the application is shutting down: nobody is left to tell
        pass


class Task(QObject):
    done = Signal(object)
    failed = Signal(str, str)  # message, traceback ('' for a LatentExplorerError: a user-facing problem)

    def __init__(self, fn: Callable[..., Any], *args: Any, parent: QObject | None = None):
        super().__init__(parent)
        self._fn, self._args = fn, args

    def start(self) -> "Task":
        """Start the work; call on the UI thread."""
        dispatcher = _the_dispatcher()
        key = next(_keys)
        _running[key] = self
        self.destroyed.connect(lambda *_args: _running.pop(key, None))
        name = f"task-{getattr(self._fn, '__name__', 'fn')}"
        threading.Thread(target=_work, args=(key, self._fn, self._args, dispatcher), name=name, daemon=True).start()
        self._fn = self._args = None
        return self
