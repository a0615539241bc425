"""The app in a real X window: an Xvfb server of our own, Qt's xcb platform plugin (not offscreen), clicks
through the X server. A system library missing for the plugin, or Xvfb or xdotool not installed, fails here
(the README's system packages and .ci/run install them)."""
from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCREEN = "1600x1000x24"
START_TIMEOUT_S = 60
RUN_TIMEOUT_S = 400

pytestmark = pytest.mark.xcb


def start_xvfb(log: Path) -> tuple[subprocess.Popen, str, int]:
    """An Xvfb server on a free display (it writes the number it took to a pipe once it accepts clients; the
    pipe stays open while it runs: Xvfb stops if it cannot write there)."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.fail("Xvfb is not installed (Debian package xvfb: see the README's system packages)")
    read, write = os.pipe()
    with open(log, "w") as err:
        server = subprocess.Popen([xvfb, "-displayfd", str(write), "-screen", "0", SCREEN, "-nolisten", "tcp"],
                                  pass_fds=(write,), stdout=err, stderr=err)
    os.close(write)
    number, deadline = b"", time.monotonic() + START_TIMEOUT_S
    while not number.endswith(b"\n") and select.select([read], [], [], max(0.0, deadline - time.monotonic()))[0]:
        chunk = os.read(read, 64)
        if not chunk:
            break
        number += chunk
    if not number.endswith(b"\n"):
        server.kill()
        server.wait()
        os.close(read)
        pytest.fail(f"Xvfb did not start within {START_TIMEOUT_S} s: {log.read_text()[-2000:]}")
    return server, f":{number.decode().strip()}", read


SOCKETS = Path("/tmp/.X11-unix")  # made by the first X server to start here; removed again if we made it


@pytest.fixture(scope="module")
def x_display(tmp_path_factory):
    ours = not SOCKETS.exists()
    server, display, pipe = start_xvfb(tmp_path_factory.mktemp("xvfb") / "xvfb.log")
    yield display
    server.terminate()
    server.wait(30)
    os.close(pipe)
    if ours:
        with contextlib.suppress(OSError):
            SOCKETS.rmdir()  # (only if empty: another X server may have started meanwhile)


@pytest.mark.guards("stop-works")
def test_the_main_window_shows_and_answers_clicks_in_a_real_x_window(x_display, tmp_path):
    from PySide6.QtGui import QImage
    if shutil.which("xdotool") is None:
        pytest.fail("xdotool is not installed (Debian package xdotool: see the README's system packages)")
    png = tmp_path / "screen.png"
    env = dict(os.environ, DISPLAY=x_display, QT_QPA_PLATFORM="xcb", PYTHONPATH=str(ROOT))
    env.pop("WAYLAND_DISPLAY", None)
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "real_window.py"), str(png)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, f"status {done.returncode} after {time.monotonic() - started:.0f} s: {done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr, done.stderr[-3000:]  # (an exception in a slot does not end the app)
    print(done.stdout)
    assert "real window: stopped at " in done.stdout, done.stdout
    assert all(f"{panel}: " in done.stdout for panel in ("setup", "map", "audio")), done.stdout
    shot = QImage(str(png))
    assert (shot.width(), shot.height()) == (1600, 1000)
    grey = shot.convertToFormat(QImage.Format.Format_Grayscale8)
    assert len(np.unique(np.frombuffer(grey.constBits(), np.uint8))) > 50  # the window, drawn by the X server (an empty screen is one colour)
