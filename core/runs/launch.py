"""A run in processes of its own: ``python main.py train …`` as one child process, or as N ranks of a
distributed run on this machine (``train --nproc N``). Importing this module starts nothing heavy (no torch).

``RunProcesses(argv, nproc).start()`` starts them; ``poll()`` says whether they still run (the GUI polls it
from a timer); ``wait()`` blocks. When a rank ends with an error or is killed, the others are stopped and
``failure`` says which rank died and how, in one line. ``interrupt()`` asks every rank to stop (SIGINT) and
returns; ``stop()`` asks them (SIGTERM), then kills those that are still there after a grace period.

The ranks run in a process group of their own: a terminal's Ctrl-C reaches the launching process alone, which
passes it on to each rank once (``forward``), so that a rank never takes it for a second Ctrl-C (which ends
at once, unsaved); ``wait_stopped()`` then waits while the ranks stop together and rank 0 saves.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MAIN = Path(__file__).resolve().parents[2] / "main.py"
POLL_S = 0.2
STRAGGLE_S = 10.0  # a rank still running this long after rank 0 stopped is stuck (waiting for the others)


def free_port() -> int:
    """A TCP port nobody listens on now, for the ranks' rendezvous (rank 0 hosts it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_environment(rank: int, nproc: int, port: int) -> dict[str, str]:
    """What torchrun would set for rank ``rank`` of ``nproc`` on one machine."""
    return {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": str(nproc), "RANK": str(rank),
            "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": str(nproc), "GROUP_RANK": "0"}


def without_option(argv: list[str], flag: str) -> list[str]:
    """``argv`` without ``flag VALUE`` and ``flag=VALUE`` (e.g. the ``--nproc`` that started the ranks)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == flag:
            skip = True
        elif not a.startswith(flag + "="):
            out.append(a)
    return out


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"ended with exit code {code}"


class RunProcesses:
    """``python main.py ARGV`` in ``nproc`` processes (ranks of one distributed run when ``nproc`` > 1).

    Output: with ``log_dir``, each rank's stdout and stderr go to ``log_dir/rank-N.log``; without it rank 0
    writes to this process's terminal and the other ranks to temporary files whose last line ``failure``
    quotes.
    """

    def __init__(self, argv: list[str], nproc: int = 1, log_dir: Path | None = None, env: dict | None = None):
        if nproc < 1:
            raise ValueError("nproc must be at least 1")
        self.argv, self.nproc, self.log_dir = list(argv), nproc, Path(log_dir) if log_dir else None
        self.env = dict(os.environ if env is None else env)
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path | None] = []
        self.failure: str | None = None
        self.returncode: int | None = None
        self._told: set[int] = set()  # the ranks a signal was passed on to

    def start(self) -> "RunProcesses":
        port = free_port() if self.nproc > 1 else 0
        for rank in range(self.nproc):
            env = {**self.env, **(rank_environment(rank, self.nproc, port) if self.nproc > 1 else {})}
            log = self._log_path(rank)
            out = open(log, "ab") if log else None
            try:
                self.procs.append(subprocess.Popen([sys.executable, str(MAIN), *self.argv], env=env, stdout=out,
                                                   stderr=subprocess.STDOUT if out else None, process_group=0))
            finally:
                if out:
                    out.close()
            self.logs.append(log)
        return self

    def _log_path(self, rank: int) -> Path | None:
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            return self.log_dir / f"rank-{rank}.log"
        if rank == 0:
            return None
        fd, name = tempfile.mkstemp(prefix=f"latent-explorer-rank-{rank}-", suffix=".log")
        os.close(fd)
        return Path(name)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def poll(self) -> int | None:
        """None while the ranks run; their exit code once all ended (0), or once one failed (its code,
        after the others were stopped; ``failure`` says which)."""
        if self.returncode is not None:
            return self.returncode
        codes = [p.poll() for p in self.procs]
        failed = sorted((c > 0, r, c) for r, c in enumerate(codes) if c not in (None, 0))  # killed ones first
        if failed:
            _, rank, code = failed[0]
            who = f"rank {rank} of {self.nproc}" if self.nproc > 1 else "the run"
            self.failure = f"{who} {describe_exit(code)}" + self._last_words(rank)
            if self.nproc > 1:
                self.failure += "; the other ranks were stopped"
            self._end_all(grace_s=5.0, settle_s=3.0)
            self.returncode = code if code > 0 else 128 - code
        elif all(c == 0 for c in codes):
            self.returncode = 0
        if self.returncode is not None:
            self._remove_temporary_logs()
        return self.returncode

    def wait(self) -> int:
        while self.poll() is None:
            time.sleep(POLL_S)
        return self.returncode

    def interrupt(self) -> None:
        """Ask every rank to stop as Ctrl-C does (SIGINT: the run saves a checkpoint at the current step and
        ends); returns at once (``poll()`` tells when they have ended)."""
        self.forward(signal.SIGINT)

    def stop(self, grace_s: float = 30.0) -> int:
        """Ask every rank to stop (SIGTERM: a run saves its checkpoint and ends), kill those still running
        after ``grace_s``; their exit code."""
        self._end_all(grace_s)
        return self.wait()

    def forward(self, signum: int) -> None:
        """Pass a stop signal on to each running rank that has not had one (SIGHUP goes on as SIGTERM: a rank
        saves and ends on it)."""
        signum = signal.SIGTERM if signum == signal.SIGHUP else signum
        for p in self.procs:
            if p.pid not in self._told and p.poll() is None:
                self._told.add(p.pid)
                p.send_signal(signum)

    def wait_stopped(self, straggle_s: float = STRAGGLE_S) -> int:
        """After ``forward``: wait for every rank to end (rank 0 saves the run last); a rank still running
        ``straggle_s`` after rank 0 ended is killed. Rank 0's exit code (128 + the signal when it stopped and
        saved; it has said so on the terminal)."""
        first_ended = None
        while any(p.poll() is None for p in self.procs):
            if self.procs[0].poll() is not None:
                first_ended = first_ended or time.monotonic()
                if time.monotonic() - first_ended > straggle_s:
                    self._end_all(grace_s=0.0)
            time.sleep(POLL_S)
        self._remove_temporary_logs()
        code = self.procs[0].returncode
        self.returncode = code if code >= 0 else 128 - code
        return self.returncode

    def _end_all(self, grace_s: float, settle_s: float = 0.0) -> None:
        """Give the ranks ``settle_s`` to end on their own (the others of a dead rank notice it and say so),
        then SIGTERM, then after ``grace_s`` SIGKILL."""
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline and any(p.poll() is None for p in self.procs):
            time.sleep(POLL_S)
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for p in self.procs:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def _last_words(self, rank: int) -> str:
        """': <the last line the rank wrote>', when it wrote to a file."""
        log = self.logs[rank] if rank < len(self.logs) else None
        if not log or not log.is_file():
            return ""
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        return f" ({lines[-1].strip()[:300]})" if lines else ""

    def _remove_temporary_logs(self) -> None:
        if self.log_dir is None:
            for log in self.logs:
                if log is not None:
                    log.unlink(missing_ok=True)
