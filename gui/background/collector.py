"""Python's cyclic garbage collector, run on the UI thread only.

Left automatic, the collector runs in whichever thread happens to allocate, so a worker thread can end
up destroying a Qt object that sat in a reference cycle; Qt then takes its locks on that thread while
the UI thread holds the GIL and waits for the same locks, and the app freezes. So automatic collection
is switched off and a timer on the UI thread collects instead, generation by generation, as the
interpreter would (the calibre project's remedy for the same problem). What the app builds at start-up
(modules, the window) lives for the session: ``startup_done`` sets it aside, so that a full collection
scans only what came later (about 0.1 s less each, with the window built).

A full collection also sets its survivors aside (``gc.freeze``): they are long-lived, and scanning them again
every couple of seconds while a run trains cost the UI thread 30-50 ms a time. So the routine full collection
scans only what came since the last one; every ``THOROUGH_S`` one scans everything (``gc.unfreeze`` first), so
that cycles among objects set aside are reclaimed too.
"""
from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500
THOROUGH_S = 600.0  # a full collection of everything, set aside or not, at most this often


class UiThreadCollector(QObject):
    def __init__(self, parent: QObject):
        super().__init__(parent)
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.collect_due)
        self.timer.start(INTERVAL_MS)
        self.destroyed.connect(lambda *_args: gc.enable())

    _thorough_at = time.monotonic() + THOROUGH_S

    @classmethod
    def collect_due(cls) -> int:
        """Collect the oldest generation whose count is over its threshold (none: 0 objects); a full collection
        sets its survivors aside, and once every ``THOROUGH_S`` takes back in what was set aside first."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        due = [g for g in range(3) if counts[g] > thresholds[g]]
        if not due:
            return 0
        if due[-1] < 2:
            return gc.collect(due[-1])
        if time.monotonic() >= cls._thorough_at:
            cls._thorough_at = time.monotonic() + THOROUGH_S
            gc.unfreeze()
        found = gc.collect(2)
        gc.freeze()
        return found


def set_aside() -> None:
    """Exempt every object alive now from routine collections (``gc.freeze``) without collecting: for what a run's
    start imports and builds (about 140,000 objects, torch's modules for the most part), whose first full scan
    stalled the UI thread for about 100 ms while the run trained (issue 22 item 9). Cycles among them are still
    reclaimed by the thorough collection every ``THOROUGH_S``."""
    gc.freeze()


def startup_done() -> None:
    """Collect once, then exempt every object alive now from later collections (``gc.freeze``)."""
    gc.collect()
    gc.freeze()


def collect_on_ui_thread(app: QObject) -> UiThreadCollector:
    """Install the collector on ``app`` (once)."""
    found = app.findChild(UiThreadCollector)
    return found if found is not None else UiThreadCollector(app)
