"""Start the GUI: the QApplication, its look, the main window, and the ``--screenshot`` mode."""
from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

from core.errors import LatentExplorerError

SCREENSHOT_DATA_TIMEOUT_S = 120.0
SCREENSHOT_TRAIN_LIMIT_S = 45.0  # --screenshot stops a longer run after this


def make_application():
    """The QApplication (created once), with the app's names, style, pyqtgraph's look, and garbage
    collection on the UI thread only (see gui/collector.py)."""
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from .background.collector import collect_on_ui_thread
    from .settings import APPLICATION, ORGANIZATION

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setStyle("Fusion")
    pg.setConfigOptions(antialias=False, background="w", foreground="#24292f")  # curves opt in (cheap)
    collect_on_ui_thread(app)
    return app


def run_app(args) -> int:
    """``python main.py``: the window on ``args.dataset``; with ``args.screenshot``, a PNG instead."""
    if args.screenshot:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        keys = ["main", *panel_keys()]
        if args.panel not in keys:
            raise LatentExplorerError(f"unknown panel {args.panel!r}; choose one of: {', '.join(keys)}")
    app = make_application()
    from .background.collector import startup_done
    from .main_window import MainWindow
    if args.screenshot:
        with scratch_user_dirs():
            window = MainWindow()
            try:
                path = take_screenshot(window, args.dataset, args.panel, Path(args.screenshot))
            finally:
                window.close()
        print(f"wrote {path}")
        return 0
    window = MainWindow()
    startup_done()
    sys.excepthook = lambda kind, exc, tb: window.show_error(
        "Unexpected error", f"{kind.__name__}: {exc}", "".join(traceback.format_exception(kind, exc, tb)))
    window.show()
    window.load_dataset(args.dataset)
    return app.exec()


def panel_keys() -> list[str]:
    from .panels import panel_specs
    return [spec.key for spec in panel_specs()]


@contextmanager
def scratch_user_dirs():
    """Settings and run folders in a temporary place (a screenshot must not touch the user's)."""
    from .settings import RUNS_ENV, SETTINGS_ENV
    saved = {k: os.environ.get(k) for k in (SETTINGS_ENV, RUNS_ENV)}
    with tempfile.TemporaryDirectory(prefix="latent-explorer-screenshot-") as tmp:
        os.environ[SETTINGS_ENV] = str(Path(tmp) / "settings.ini")
        os.environ[RUNS_ENV] = str(Path(tmp) / "runs")
        try:
            yield Path(tmp)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def wait_until(condition, timeout_s: float, what: str) -> None:
    """Run the event loop until ``condition()`` holds; LatentExplorerError after ``timeout_s``."""
    from PySide6.QtCore import QCoreApplication, QThread
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise LatentExplorerError(f"--screenshot: timed out after {timeout_s:.0f} s waiting for {what}")
        QCoreApplication.processEvents()
        QThread.msleep(10)


def settle(window, seconds: float) -> None:
    """Let timers (curve redraws, polls) run for a moment."""
    end = time.monotonic() + seconds
    wait_until(lambda: time.monotonic() > end, seconds + 5, "the window to settle")


def take_screenshot(window, dataset: str, panel: str, path: Path) -> Path:
    """Open the window offscreen on ``dataset``, prepare ``panel`` (``main``: train the model chosen in
    Setup briefly), wait for the work to end, and save a PNG of the window or of the panel's dock."""
    from PySide6.QtCore import Qt

    from .background.tasks import running_tasks

    window.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
    window.show()
    window.load_dataset(dataset)
    wait_until(lambda: window.context.data is not None or window.panels["setup"].message.isVisible(),
               SCREENSHOT_DATA_TIMEOUT_S, f"data set {dataset}")
    if window.context.data is None:
        raise LatentExplorerError(f"--screenshot: {window.panels['setup'].message.text()}")
    target = window.panels["training" if panel == "main" else panel]
    if hasattr(target, "prepare_for_screenshot"):
        if panel != "main":
            window.docks[panel].raise_()
        target.prepare_for_screenshot()
    bridge = window.bridge
    started = time.monotonic()

    def idle() -> bool:
        if bridge.busy and time.monotonic() - started > SCREENSHOT_TRAIN_LIMIT_S:
            bridge.stop()
        return not bridge.busy and (bridge.worker is None or bridge.worker.events.empty()) and running_tasks() == 0

    settle(window, 0.2)
    wait_until(idle, SCREENSHOT_TRAIN_LIMIT_S + 60, "training and loading to finish")
    settle(window, 0.5)
    if panel != "main":
        window.docks[panel].raise_()
        settle(window, 0.2)
    widget = window if panel == "main" else window.docks[panel]
    path.parent.mkdir(parents=True, exist_ok=True)
    if not widget.grab().save(str(path)):
        raise LatentExplorerError(f"could not write {path}")
    return path
