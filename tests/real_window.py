"""The app in a real X window (run by tests/test_real_window.py in an X server, ``QT_QPA_PLATFORM=xcb``):
``python tests/real_window.py SCREEN.png`` shows the main window on the digits, clicks Start and then Stop
through the X server (xdotool, as a mouse would), waits for the first curves, saves a picture of the screen
and exits 0; any failure is a line on stderr and exit status 1 (a Qt abort, as when the xcb plugin cannot
load, is a signal)."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TIMEOUT_S = 180.0


def wait_until(condition, what: str, timeout_s: float = TIMEOUT_S) -> None:
    from gui.screenshot import wait_until as wait
    wait(condition, timeout_s, what)


def click(widget) -> None:
    """A left click in the middle of ``widget``, through the X server."""
    centre = widget.mapToGlobal(widget.rect().center())
    done = subprocess.Popen(["xdotool", "mousemove", "--sync", str(centre.x()), str(centre.y()), "click", "1"])
    wait_until(lambda: done.poll() is not None, "xdotool")
    if done.returncode:
        raise RuntimeError(f"xdotool failed with status {done.returncode}")


def run(screen_png: Path) -> None:
    from PySide6.QtTest import QTest

    from gui.app import make_application
    from gui.main_window import MainWindow

    started = time.monotonic()
    app = make_application()
    if app.platformName() != "xcb":
        raise RuntimeError(f"Qt runs on the {app.platformName()!r} platform, not xcb")
    window = MainWindow()
    window.show()
    if not QTest.qWaitForWindowExposed(window, 60_000):
        raise RuntimeError("the main window was never exposed")
    window.load_dataset("digits")
    wait_until(lambda: window.context.data is not None, "the digits")
    panel = window.panels["training"]
    window.docks["training"].raise_()
    wait_until(lambda: panel.start_button.isEnabled() and panel.start_button.isVisible(), "Start to be enabled")
    click(panel.start_button)
    wait_until(lambda: panel.state == "running", "the click on Start to start training")
    wait_until(lambda: panel.plots.plots, "the first curves")
    click(panel.stop_button)
    wait_until(lambda: not window.bridge.busy, "the click on Stop to stop training")
    QTest.qWait(300)  # a repaint
    shot = app.primaryScreen().grabWindow(0)  # what the X server shows
    if not shot.save(str(screen_png)):
        raise RuntimeError(f"could not write {screen_png}")
    window.close()
    print(f"real window: {panel.state} after {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    from core.threads import exit_code_after_threads
    from mutants import apply_from_environment  # (tests/run_mutants.py breaks the app on purpose)
    apply_from_environment()
    try:
        run(Path(sys.argv[1]))
        status = 0
    except Exception as exc:  # one line for the test's message
        print(f"real window failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        status = 1
    sys.exit(exit_code_after_threads(status))
