"""Checkpoints written off the training thread: training takes a snapshot (copies on the CPU) and goes on
while another thread writes and syncs the file; one write at a time, the newest snapshot waiting its turn."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from ..threads import start_thread
from .checkpoint import write_checkpoint


class BackgroundSaver:
    """``write(path, payload)`` returns at once; ``poll()`` (on the training thread) reports the writes done
    since it last ran to ``on_written(path)`` and raises the error of a write that failed; ``wait()`` does the
    same once every write is on disk."""

    def __init__(self, on_written: Callable[[Path], None]):
        self.on_written = on_written
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._running = False  # a thread is writing, or about to take the next snapshot
        self._next: tuple[Path, dict] | None = None  # the newest snapshot not yet being written
        self._written: list[Path] = []
        self._error: BaseException | None = None
        self.last_write_s = 0.0  # how long the last write took

    def write(self, path: Path, payload: dict) -> None:
        with self._lock:
            self._next = (Path(path), payload)
            if not self._running:
                self._running = True
                self._thread = start_thread(self._drain, name="latent-explorer-checkpoint")

    def _drain(self) -> None:
        while True:
            with self._lock:
                job, self._next = self._next, None
                if job is None:
                    self._running = False
                    return
            try:
                tick = time.perf_counter()
                path = write_checkpoint(*job)
                self.last_write_s = time.perf_counter() - tick
                with self._lock:
                    self._written.append(path)
            except BaseException as exc:  # reported on the training thread by poll()
                self._error = exc

    def poll(self) -> None:
        with self._lock:
            written, self._written = self._written, []
        for path in written:
            self.on_written(path)
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def wait(self) -> None:
        while True:
            with self._lock:
                thread = self._thread if self._running else None
            if thread is None:
                break
            thread.join()
        self.poll()
