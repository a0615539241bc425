"""A run folder has one owner: the process that trains into it holds an exclusive lock on ``.lock`` (its
pid, host and start time written inside) for the whole run.

``RunFolder(path).claim(fresh=..., overwrite=...)`` takes the folder or says who has it; a fresh run refuses
a folder that already holds a run (a ``checkpoint.pt``: what can be resumed) unless told to replace it;
temporary files that a killed writer left behind are removed when the folder is taken.
``state()`` tells, without taking anything, whether a folder is free, holds a run, or is being written.
The lock is ``fcntl.flock``: the kernel lets go of it when its process ends, however it ends.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal

from ..errors import LatentExplorerError, os_error_words

LOCK_NAME = ".lock"
CHECKPOINT_NAME, METRICS_NAME = "checkpoint.pt", "metrics.jsonl"
RUN_FILES = (CHECKPOINT_NAME, METRICS_NAME)
CLAIM_PATIENCE_S = 0.5  # someone only looking (state()) holds the lock for an instant


class RunFolderBusy(LatentExplorerError):
    """Another process is writing the run folder."""


class RunFolderTaken(LatentExplorerError):
    """The folder holds a run and the new run would replace it."""


@dataclass(frozen=True)
class Owner:
    pid: int
    host: str
    since: float  # time.time() when it took the folder

    def describe(self) -> str:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"process {self.pid} on {self.host}, since {started}"


@dataclass(frozen=True)
class FolderState:
    #: ``free``: no run here (or no folder yet); ``run``: a finished or interrupted run nobody writes;
    #: ``owned``: a live process is writing it (``owner`` says which, when it could be read)
    kind: Literal["free", "run", "owned"]
    owner: Owner | None = None


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock_path = self.path / LOCK_NAME

    def holds_run(self) -> bool:
        """Whether the folder keeps a run that can be resumed (its checkpoint)."""
        return (self.path / CHECKPOINT_NAME).is_file()

    def state(self) -> FolderState:
        """Free, holding a run, or owned by a live process (who, if it could be read); takes nothing."""
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)
        except OSError:
            return FolderState("run" if self.holds_run() else "free")
        try:
            if not _try_lock(fd, fcntl.LOCK_SH):
                return FolderState("owned", _read_owner(fd))
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        return FolderState("run" if self.holds_run() else "free")

    def check(self, fresh: bool, overwrite: bool = False) -> None:
        """Raise what ``claim`` would (busy, or holding a run a fresh run would replace), taking nothing: a
        quick answer before the work of getting a run ready."""
        state = self.state()
        if state.kind == "owned":
            raise self._busy(state.owner)
        if state.kind == "run" and fresh and not overwrite:
            raise self._taken()

    @contextlib.contextmanager
    def claim(self, fresh: bool, overwrite: bool = False) -> Iterator["RunFolder"]:
        """Hold the folder while the block runs (created if needed). ``fresh``: a new run, refused with
        ``RunFolderTaken`` where a run is already kept unless ``overwrite`` (its files are then removed);
        ``RunFolderBusy`` names the process that writes it now."""
        fd = self._open_lock()
        try:
            deadline = time.monotonic() + CLAIM_PATIENCE_S
            while not _try_lock(fd, fcntl.LOCK_EX):
                if time.monotonic() > deadline:
                    raise self._busy(_read_owner(fd))
                time.sleep(0.05)
            self._write_owner(fd)
            self.remove_orphans()
            if fresh and self.holds_run():
                if not overwrite:
                    raise self._taken()
                for name in RUN_FILES:
                    (self.path / name).unlink(missing_ok=True)
            yield self
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # nobody owns it now (a killed owner's words stay, but its lock goes)
            os.close(fd)  # lets go of the lock

    def remove_orphans(self) -> list[Path]:
        """Delete the temporary files of interrupted atomic writes (``checkpoint.pt.*.tmp``, ...). Only the
        owner may: a live writer's temporary file would go too."""
        orphans = [p for name in RUN_FILES for p in self.path.glob(f"{name}.*.tmp")]
        for p in orphans:
            p.unlink(missing_ok=True)
        return orphans

    def _busy(self, owner: Owner | None) -> RunFolderBusy:
        return RunFolderBusy(f"{self.path}: another training run is writing this folder ("
                             f"{owner.describe() if owner else 'its owner is unknown'}); wait for it to end or "
                             "choose another folder")

    def _taken(self) -> RunFolderTaken:
        return RunFolderTaken(f"{self.path}: this folder holds a run already; continue it with --resume "
                              f"{self.path / CHECKPOINT_NAME}, replace it with --overwrite, or choose another folder")

    def _open_lock(self) -> int:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            return os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LatentExplorerError(f"{self.path}: cannot use this folder for a run ({os_error_words(exc)})") \
                from exc

    @staticmethod
    def _write_owner(fd: int) -> None:
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})
        os.ftruncate(fd, 0)
        os.pwrite(fd, record.encode(), 0)


def _try_lock(fd: int, kind: int) -> bool:
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _read_owner(fd: int) -> Owner | None:
    try:
        record = json.loads(os.pread(fd, 4096, 0) or b"null")
        return Owner(int(record["pid"]), str(record["host"]), float(record["since"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None
