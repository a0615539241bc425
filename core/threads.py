"""Background threads that are over before the interpreter is.

Python (before 3.14) stops a daemon thread still running at interpreter shutdown by unwinding its stack
from inside C code; through torch's C++ frames that aborts the whole process ("terminate called without
an active exception"). So the program's background threads start here, and every way out of the program
(the app, the command line, the test session) goes through ``exit_code_after_threads`` first. Work that
runs until told to stop (live audio) registers with ``stop_at_exit``: it is stopped on the way out.
"""
from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import weakref
from typing import Any, Callable

_threads: set[threading.Thread] = set()
_lock = threading.Lock()
_stoppable: weakref.WeakSet = weakref.WeakSet()  # running audio streams and feeds
_skip_teardown = False


MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter


#: Compiled CPU kernels oneDNN (torch's convolutions) keeps for reuse. It compiles one for each layer, shape and
#: batch size it meets and keeps up to 1,024 by default; in the app, which runs many models at many batch sizes,
#: that held ~25 MB more after the seeded monkey's 10,000 actions (issue 21). 128 trains as fast (the bench's
#: diffusion U-Net: 158 ms a step, 155 with 1,024).
KERNEL_CACHE = 128


def bound_native_memory() -> bool:
    """What the app does first, before torch computes anything: its threads share two C heaps
    (``share_malloc_arenas``) and oneDNN keeps at most ``KERNEL_CACHE`` compiled kernels (unless
    ``ONEDNN_PRIMITIVE_CACHE_CAPACITY`` says otherwise). Returns whether the heaps are shared."""
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(KERNEL_CACHE))
    return share_malloc_arenas()


def share_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Let all threads allocate from ``arenas`` C heaps (glibc's ``M_ARENA_MAX``; call before any thread starts).

    glibc gives threads that allocate at once heaps of their own, up to eight per core, and memory freed in them
    comes back to the system only from their ends: with a new thread for each piece of background work, the
    app's resident memory grew by 60-140 MB of free-but-held heap per 10,000 clicks of the seeded monkey (issue
    21). Two heaps (the remedy gunicorn and Heroku document for threaded Python) hold it to a fraction. False
    where the C library is not glibc."""
    try:
        import ctypes
        return bool(ctypes.CDLL("libc.so.6").mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False


def stop_at_exit(source) -> None:
    """Stop ``source`` (anything with ``stop()``) on the way out of the program."""
    _stoppable.add(source)


@atexit.register
def stop_all() -> None:
    """Stop everything registered with ``stop_at_exit`` (also run at exit, for programs that end otherwise)."""
    for source in list(_stoppable):
        source.stop()


def start_thread(target: Callable[..., Any], *args: Any, name: str) -> threading.Thread:
    """Run ``target(*args)`` in a new daemon thread that ``wait_for_threads`` knows about."""
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    with _lock:
        _threads.difference_update([t for t in _threads if not t.is_alive()])
        _threads.add(thread)
    thread.start()
    return thread


def running_threads() -> list[str]:
    """Names of the background threads still running (a thread runs until it has let go of everything:
    its last deallocations may still enter torch)."""
    with _lock:
        return sorted(t.name for t in _threads if t.is_alive())


def wait_for_threads(timeout_s: float) -> list[str]:
    """Wait up to ``timeout_s`` in all for the background threads to end; names of those still running."""
    deadline = time.monotonic() + timeout_s
    with _lock:
        threads = list(_threads)
    for thread in threads:
        if thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
    return running_threads()


def skip_teardown() -> None:
    """Have ``exit_code_after_threads`` end the process at once, without the interpreter's shutdown: for a
    process whose native state cannot be torn down cleanly (a distributed rank whose peers are gone, whose
    Gloo connections aborted it on the way out, turning a clear "lost contact" into a crash)."""
    global _skip_teardown
    _skip_teardown = True


def exit_code_after_threads(code: int, timeout_s: float = 30.0) -> int:
    """``code``, once the background threads have ended. If some still run after ``timeout_s``, they are
    named on stderr and the process ends here with ``code``, before the interpreter's shutdown can abort it;
    so does a process that asked to ``skip_teardown``."""
    stop_all()
    left = wait_for_threads(timeout_s)
    if not left and not _skip_teardown:
        return code
    if left:
        print(f"warning: leaving while background work still runs ({', '.join(left)})", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
