"""Run a function off the UI thread and get its result back on the UI thread, by signal.

    task = Task(load_dataset, "mnist", parent=self)
    task.done.connect(self._on_data)        # called with the return value
    task.failed.connect(self._on_problem)   # called with (message, traceback); '' for expected errors
    task.start()

The worker thread never touches the ``Task``: it hands the result to one dispatcher object that lives
on the UI thread for the whole session (so an emit can never race with a deletion), and Qt queues the
delivery into the UI event loop. A task whose parent is deleted before it finishes delivers nothing. A task that
has delivered stays a child of its parent (about 5 kB) until the parent goes: deleted sooner (``deleteLater``),
tasks crashed Qt in ``~QObject`` at once in tests/test_audio_panel.py; handed to Python instead
(``setParent(None)``), they were part of a build whose GUI tests segfaulted in CI.

Worker threads never hold a Qt object: were a worker to drop the last reference, Qt would destroy the
object on that thread, which deadlocks against the UI thread. ``Task`` refuses functions and arguments
that hold one; a worker reports back through ``on_ui_thread(self.method)``, which holds it only weakly.
"""
from __future__ import annotations

import functools
import itertools
import traceback
import weakref
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Signal, Slot

from core.errors import LatentExplorerError
from core.threads import start_thread

_running: dict[int, "Task"] = {}  # started tasks that will still deliver, by key; keeps them alive
_keys = itertools.count()


def running_tasks() -> int:
    """How many tasks have started and will still deliver (tasks whose parent was deleted do not count)."""
    return len(_running)


class _Dispatcher(QObject):
    """Receives results from worker threads; created on the UI thread and never deleted."""
    result = Signal(int, bool, object, str, str)  # key, ok, value, message, traceback
    call = Signal(object)  # (weak reference to a Qt object, method name, arguments) to run on the UI thread

    def __init__(self):
        super().__init__()
        self.result.connect(self._deliver)  # receiver lives on the UI thread: a queued connection
        self.call.connect(self._call)

    @Slot(object)
    def _call(self, call: tuple) -> None:
        owner_ref, name, args = call
        owner = owner_ref()
        if owner is not None and shiboken6.isValid(owner):
            getattr(owner, name)(*args)

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


def on_ui_thread(method: Callable[..., Any]) -> Callable[..., None]:
    """A stand-in for ``method``, a bound method of a Qt object, that worker threads may call: each call
    runs ``method`` on the UI thread, unless the object has been deleted by then. It holds the object
    only weakly (see the module's docstring)."""
    owner_ref, name = weakref.ref(method.__self__), method.__name__

    def call(*args: Any) -> None:
        try:
            _the_dispatcher().call.emit((owner_ref, name, args))
        except RuntimeError:  # the application is shutting down: nobody is left to tell
            pass
    return call


def holds_qt_object(value: Any, depth: int = 3) -> bool:
    """Whether ``value`` is, or (through bound methods, partials, closures and containers, ``depth`` levels
    deep) holds, a Qt object."""
    if isinstance(value, QObject):
        return True
    if depth == 0:
        return False
    if isinstance(value, functools.partial):
        inner = [value.func, *value.args, *value.keywords.values()]
    elif hasattr(value, "__self__"):
        inner = [value.__self__]
    elif hasattr(value, "__closure__"):
        inner = [cell.cell_contents for cell in value.__closure__ or ()]
    elif isinstance(value, (tuple, list)):
        inner = list(value)
    else:
        return False
    return any(holds_qt_object(v, depth - 1) for v in inner)


def outcome(fn: Callable[..., Any], args: tuple) -> tuple[bool, Any, str, str]:
    """``fn(*args)`` as (ok, value, message, traceback): a LatentExplorerError is a user-facing problem
    (no traceback); any other exception is a bug or a resource problem (with its traceback)."""
    try:
        return True, fn(*args), "", ""
    except LatentExplorerError as exc:
        return False, None, str(exc), ""
    except Exception as exc:
        return False, None, f"{type(exc).__name__}: {exc}", traceback.format_exc()


def name_of(fn: Callable[..., Any]) -> str:
    """The name of the function ``fn`` calls (through partials)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return getattr(fn, "__name__", type(fn).__name__)


def refuse_qt_objects(fn: Callable[..., Any], args: tuple) -> None:
    """TypeError if background work ``fn(*args)`` would hold a Qt object (see the module's docstring)."""
    if holds_qt_object((fn, *args)):
        raise TypeError(f"{name_of(fn)}: background work must not hold Qt objects "
                        "(see gui.background.tasks); report back through on_ui_thread(self.method)")


def _work(key: int, fn: Callable[..., Any], args: tuple, dispatcher: _Dispatcher) -> None:
    result = outcome(fn, args)
    try:
        dispatcher.result.emit(key, *result)
    except RuntimeError:  # the application is shutting down: nobody is left to tell
        pass


class Task(QObject):
    done = Signal(object)
    failed = Signal(str, str)  # message, traceback ('' for a LatentExplorerError: a user-facing problem)

    def __init__(self, fn: Callable[..., Any], *args: Any, parent: QObject | None = None):
        refuse_qt_objects(fn, args)
        super().__init__(parent)
        self._fn, self._args = fn, args

    def start(self) -> "Task":
        """Start the work; call on the UI thread."""
        dispatcher = _the_dispatcher()
        key = next(_keys)
        _running[key] = self
        self.destroyed.connect(lambda *_args: _running.pop(key, None))
        start_thread(_work, key, self._fn, self._args, dispatcher, name=f"task-{name_of(self._fn)}")
        self._fn = self._args = None
        return self
