"""core.threads: background threads end before the interpreter does, or the program says which did not.

Each case runs in a fresh interpreter, since what is tested is how a process ends."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_script(body: str, timeout_s: float = 60) -> subprocess.CompletedProcess:
    script = "import sys, threading, time\nfrom core.threads import *\n" + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=timeout_s)


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
