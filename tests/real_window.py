"""The app in a real X window (run by tests/test_real_window.py in an X server, ``QT_QPA_PLATFORM=xcb``):
``python tests/real_window.py SCREEN.png`` shows the main window on the digits and, through the X server
(xdotool, as a mouse and a keyboard would): types a long run's epochs into Setup, ticks a check box of Map,
changes the Audio panel's tab, clicks Start, then Stop once the first curves are drawn; the run must end
"stopped" before its last step. It saves a picture of the screen and exits 0; any failure is a line on stderr
and exit status 1 (a Qt abort, as when the xcb plugin cannot load, is a signal)."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0  # a stop saves a small checkpoint: seconds, even on a loaded machine


def wait_until(condition, what: str, timeout_s: float = TIMEOUT_S) -> None:
    from gui.screenshot import wait_until as wait
    wait(condition, timeout_s, what)


LONG_RUN_EPOCHS = 5000  # far more than the seconds the test waits: only Stop ends the run


def xdotool(*args: str) -> None:
    done = subprocess.Popen(["xdotool", *args])
    wait_until(lambda: done.poll() is not None, "xdotool")
    if done.returncode:
        raise RuntimeError(f"xdotool {' '.join(args)} failed with status {done.returncode}")


def click(widget, point=None) -> None:
    """A left click in the middle of ``widget`` (or at ``point`` in its coordinates), through the X server."""
    at = widget.mapToGlobal(point if point is not None else widget.rect().center())
    xdotool("mousemove", "--sync", str(at.x()), str(at.y()), "click", "1")


def shown(window, key: str):
    """Panel ``key`` with its dock raised, once it is on screen."""
    window.docks[key].show()
    window.docks[key].raise_()
    panel = window.panels[key]
    wait_until(panel.isVisible, f"the {key} panel to show")
    return panel


def first_enabled(panel, kind):
    from PySide6.QtWidgets import QWidget
    found = [w for w in panel.findChildren(kind) if isinstance(w, QWidget) and w.isVisible() and w.isEnabled()]
    if not found:
        raise RuntimeError(f"no enabled {kind.__name__} on {type(panel).__name__}")
    return found[0]


def setup_a_long_run(window) -> str:
    """Setup: the epochs field, typed into."""
    spin = shown(window, "setup").epochs_spin
    click(spin)
    xdotool("key", "--clearmodifiers", "ctrl+a")
    xdotool("type", "--delay", "20", str(LONG_RUN_EPOCHS))
    xdotool("key", "Tab")
    wait_until(lambda: spin.value() == LONG_RUN_EPOCHS, f"the typed epochs (the field shows {spin.value()})")
    return f"setup: epochs {spin.value()}"


def tick_on_map(window) -> str:
    """Map: a check box, clicked."""
    from PySide6.QtWidgets import QCheckBox
    box = first_enabled(shown(window, "map"), QCheckBox)
    before = box.isChecked()
    click(box, box.rect().topLeft() + box.rect().center() / 4)  # (on the box, left of its label)
    wait_until(lambda: box.isChecked() != before, f"the click on map's {box.text()!r} to tick it")
    return f"map: {box.text()} {'on' if box.isChecked() else 'off'}"


def audio_tab(window) -> str:
    """Audio: another tab, clicked."""
    from PySide6.QtWidgets import QTabWidget
    tabs = first_enabled(shown(window, "audio"), QTabWidget)
    target = (tabs.currentIndex() + 1) % tabs.count()
    bar = tabs.tabBar()
    click(bar, bar.tabRect(target).center())
    wait_until(lambda: tabs.currentIndex() == target, f"the click on audio's tab {tabs.tabText(target)!r}")
    return f"audio: tab {tabs.tabText(target)}"


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
    reached = [setup_a_long_run(window), tick_on_map(window), audio_tab(window)]
    panel = shown(window, "training")
    wait_until(lambda: panel.start_button.isEnabled() and panel.start_button.isVisible(), "Start to be enabled")
    click(panel.start_button)
    wait_until(lambda: panel.state == "running", "the click on Start to start training")
    wait_until(lambda: panel.plots.plots, "the first curves")
    click(panel.stop_button)
    wait_until(lambda: not window.bridge.busy and panel.state not in ("running", "paused", "stopping"),
               "the click on Stop to stop training", STOP_TIMEOUT_S)
    progress = panel.progress.value() / panel.progress.maximum()
    if panel.state != "stopped" or progress >= 1:
        raise RuntimeError(f"Stop did not stop the run: it ended {panel.state!r} at {progress:.0%}")
    QTest.qWait(300)  # a repaint
    shot = app.primaryScreen().grabWindow(0)  # what the X server shows
    if not shot.save(str(screen_png)):
        raise RuntimeError(f"could not write {screen_png}")
    window.close()
    print(f"real window: {panel.state} at {progress:.1%} of {LONG_RUN_EPOCHS} epochs after "
          f"{time.monotonic() - started:.1f} s; reached {'; '.join(reached)}")


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
