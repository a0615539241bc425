"""Start the GUI: the QApplication, its look, the main window, and the ``--screenshot`` mode."""
from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path

from core.errors import LatentExplorerError


def make_application():
    """The QApplication (created once), with the app's names, style, pyqtgraph's look, and garbage
    collection on the UI thread only (see gui/background/collector.py). A system library missing for Qt's X11
    plugin is a LatentExplorerError that names it and its package (gui/qt_platform.py), not an abort."""
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from .background.collector import collect_on_ui_thread
    from .qt_platform import check_xcb
    from .settings import APPLICATION, ORGANIZATION

    app = QApplication.instance()
    if app is None:
        check_xcb()
        app = QApplication(sys.argv[:1])
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
        from .screenshot import scratch_user_dirs, take_screenshot
        with scratch_user_dirs():
            window = MainWindow()
            try:
                path = take_screenshot(window, args.dataset, args.panel, Path(args.screenshot))
            finally:
                window.close()
        print(f"wrote {path}")
        return 0
    from .run_folders import bring_over_legacy_runs
    from .settings import app_settings, legacy_runs_root, runs_root
    bring_over_legacy_runs(app_settings(), legacy_runs_root(), runs_root())
    window = MainWindow()
    close_on_signals(window)
    startup_done()
    sys.excepthook = lambda kind, exc, tb: window.show_error(
        "Unexpected error", f"{kind.__name__}: {exc}", "".join(traceback.format_exception(kind, exc, tb)))
    window.show()
    window.load_dataset(args.dataset)
    return app.exec()


def close_on_signals(window):
    """Ctrl-C and SIGTERM close the window as its close button does (a training run saves first and says
    where). Python sees a signal only when it runs, so a timer wakes it four times a second."""
    from PySide6.QtCore import QTimer
    for kind in (signal.SIGINT, signal.SIGTERM):
        signal.signal(kind, lambda _signum, _frame: QTimer.singleShot(0, window.close))
    wake = QTimer(window)
    wake.timeout.connect(lambda: None)
    wake.start(250)
    return wake


def panel_keys() -> list[str]:
    from .panels import panel_specs
    return [spec.key for spec in panel_specs()]
