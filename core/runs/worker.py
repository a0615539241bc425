"""Run the trainer a run builds (``run.build_trainer()``) in a background thread; events go through a queue.

Whoever drives the worker (``core.sessions.training``, a test, a benchmark) drains ``events`` at its own pace;
nothing here blocks the caller. A crash inside the thread becomes an ``error`` event, never a dead app.
"""
from __future__ import annotations

import queue
import threading
import traceback

from ..errors import LatentExplorerError
from ..threads import start_thread
from ..train.device import leave_a_core_for_the_ui
from ..train.loop import Control, TrainerBase
from ..train.run import TrainingRun


class TrainingWorker:
    def __init__(self, run: TrainingRun):
        self.run = run
        self.events: queue.Queue[dict] = queue.Queue()
        self.control = Control()
        self.trainer: TrainerBase | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "TrainingWorker":
        self._thread = start_thread(self._main, name="latent-explorer-training")
        return self

    def _main(self) -> None:
        leave_a_core_for_the_ui()
        try:
            self.trainer = self.run.build_trainer(self.events.put, self.control)
            self.trainer.train()
        except LatentExplorerError as exc:
            self.events.put({"type": "error", "message": str(exc)})
        except Exception as exc:  # a bug or a resource problem: report it with its traceback
            self.events.put({"type": "error", "message": f"{type(exc).__name__}: {exc}",
                             "traceback": traceback.format_exc()})
        finally:
            self.events.put({"type": "done"})

    def pause(self):
        self.control.pause()

    def resume(self):
        self.control.resume()

    def stop(self):
        self.control.stop()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def drain(self) -> list[dict]:
        """Every event waiting in the queue, oldest first."""
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out
