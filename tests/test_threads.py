"""core.threads: background threads end before the interpreter does, or the program says which did not.

Each case runs in a fresh interpreter, since what is tested is how a process ends."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_script(body: str, timeout_s: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
    script = "import sys, threading, time\nfrom core.threads import *\n" + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=timeout_s,
                          env=env)


def test_torch_work_running_at_exit_is_stopped_before_the_interpreter_ends():
    # Left to the interpreter, a daemon thread inside torch at exit aborts the process ("terminate called
    # without an active exception", exit code 134) on Python < 3.14; this is how every exit path leaves.
    result = run_script("""
        import torch

        class Spin:
            def __init__(self):
                self.stopped = threading.Event()

            def stop(self):
                self.stopped.set()

            def run(self):
                while not self.stopped.is_set():
                    tensors = [torch.randn(64, 64) for _ in range(50)]
                    del tensors

        spin = Spin()
        stop_at_exit(spin)
        start_thread(spin.run, name="spin")
        time.sleep(0.5)
        assert running_threads() == ["spin"]
        sys.exit(exit_code_after_threads(0))
    """)
    assert result.returncode == 0, result.stderr
    assert "terminate called" not in result.stderr


def test_a_stuck_thread_is_named_and_the_exit_code_kept():
    started = time.monotonic()
    result = run_script("""
        start_thread(time.sleep, 60, name="stuck-decoder")
        start_thread(time.sleep, 0.1, name="quick")
        sys.exit(exit_code_after_threads(3, timeout_s=1.0))
    """)
    assert result.returncode == 3
    assert result.stderr.strip() == "warning: leaving while background work still runs (stuck-decoder)"
    assert time.monotonic() - started < 30


def test_finished_threads_are_forgotten():
    result = run_script("""
        done = threading.Event()
        start_thread(done.set, name="short")
        assert done.wait(5)
        assert wait_for_threads(5) == [] and running_threads() == []
        print("ok")
    """)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


ARENAS_AFTER_BUSY_THREADS = """
    import ctypes, os, re, tempfile
    if {share}:
        assert share_malloc_arenas()
    go = threading.Barrier(8)

    def churn():
        go.wait()  # all at once, as background work that overlaps
        for _ in range(200):
            blocks = [bytearray(4096) for _ in range(100)]
            del blocks

    threads = [threading.Thread(target=churn) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    libc = ctypes.CDLL("libc.so.6")
    libc.fdopen.restype = ctypes.c_void_p
    libc.malloc_info.argtypes, libc.fclose.argtypes = [ctypes.c_int, ctypes.c_void_p], [ctypes.c_void_p]
    with tempfile.TemporaryFile("w+") as f:
        stream = libc.fdopen(os.dup(f.fileno()), b"w")
        libc.malloc_info(0, stream)
        libc.fclose(stream)
        f.seek(0)
        print(len(re.findall('<heap nr=', f.read())))
"""


def test_threads_share_two_c_heaps_as_in_the_app():
    # glibc gave each busy thread a heap of its own, whose freed memory stayed held: the monkey's memory grew
    # by 60-140 MB per 10,000 actions (issue 21). main.py and the tests share two heaps among all threads.
    shared = run_script(ARENAS_AFTER_BUSY_THREADS.format(share=True))
    own = run_script(ARENAS_AFTER_BUSY_THREADS.format(share=False))
    assert shared.returncode == 0 and own.returncode == 0, shared.stderr + own.stderr
    assert int(shared.stdout) <= 2 < int(own.stdout), (shared.stdout, own.stdout)


KERNEL_MEMORY_AFTER_MANY_SHAPES = """
    import ctypes
    if {bound}:
        bound_native_memory()
    import torch
    torch.set_num_threads(1)

    def anonymous_mb():  # what the C heap still holds in use, not what it keeps free
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        return next(int(line.split()[1]) / 1024 for line in open("/proc/self/status") if line.startswith("RssAnon"))

    conv = torch.nn.Conv2d(8, 16, 3, padding=1)
    with torch.no_grad():
        conv(torch.rand(1, 8, 8, 8))
        before = anonymous_mb()
        for i in range(600):  # one layer met at 600 shapes (batch sizes, image heights), as the app's panels do
            conv(torch.rand(1 + i % 4, 8, 8 + i // 4, 8))
    print(anonymous_mb() - before)
"""


def test_compiled_kernels_are_bounded_as_in_the_app():
    # oneDNN keeps a compiled kernel per layer shape, up to 1,024 by default: ~25 MB more in the monkey's
    # 10,000 actions (issue 21). The app keeps KERNEL_CACHE.
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_PRIMITIVE_CACHE_CAPACITY"}  # (the tests' own bound)
    bounded = run_script(KERNEL_MEMORY_AFTER_MANY_SHAPES.format(bound=True), env=env)
    default = run_script(KERNEL_MEMORY_AFTER_MANY_SHAPES.format(bound=False), env=env)
    assert bounded.returncode == 0 and default.returncode == 0, bounded.stderr + default.stderr
    print(f"memory after 600 shapes: {float(bounded.stdout):+.1f} MB bounded, {float(default.stdout):+.1f} MB not")
    assert float(bounded.stdout) < 0.6 * float(default.stdout)


def test_main_bounds_native_memory_before_anything_else(monkeypatch):
    import main
    calls = []
    monkeypatch.setattr(main, "bound_native_memory", lambda: calls.append("heaps"))
    monkeypatch.setattr(main, "_run", lambda argv, command: calls.append("run") or 0)
    assert main.main(["--help"]) == 0 and calls == ["heaps", "run"]
