"""Python's cyclic garbage collector, run on the UI thread only.

Left automatic, the collector runs in whichever thread happens to allocate, so a worker thread can end
up destroying a Qt object that sat in a reference cycle; Qt then takes its locks on that thread while
the UI thread holds the GIL and waits for the same locks, and the app freezes. So automatic collection
is switched off and a timer on the UI thread collects instead, generation by generation, as the
interpreter would (the calibre project's remedy for the same problem). What the app builds at start-up
(modules, the window) lives for the session: ``startup_done`` sets it aside, so that a full collection
scans only what came later (about 0.1 s less each, with the window built).
"""
from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500


class UiThreadCollector(QObject):
    def __init__(self, parent: QObject):
        super().__init__(parent)
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.collect_due)
        self.timer.start(INTERVAL_MS)
        self.destroyed.connect(lambda *_args: gc.enable())

    @staticmethod
    def collect_due() -> int:
        """Collect the oldest generation whose count is over its threshold (none: 0 objects)."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        due = [g for g in range(3) if counts[g] > thresholds[g]]
        return gc.collect(due[-1]) if due else 0


def startup_done() -> None:
    """Collect once, then exempt every object alive now from later collections (``gc.freeze``)."""
    gc.collect()
    gc.freeze()


def collect_on_ui_thread(app: QObject) -> UiThreadCollector:
    """Install the collector on ``app`` (once)."""
    found = app.findChild(UiThreadCollector)
    return found if found is not None else UiThreadCollector(app)
