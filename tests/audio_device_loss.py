"""Run by test_audio_jack.py in its own process: the live view streams through a JACK server, the
server is killed, and the view must stop cleanly with a message while the rest keeps working; then the
process must exit normally. With ``idle``: the server quits while nothing streams; a rescan says so and
the process exits normally. Prints ``key: value`` lines for the test to check."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

import numpy as np  # noqa: E402
from PySide6.QtCore import QCoreApplication  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from audio_jack import JackServer  # noqa: E402
from gui.audio.live import LiveView  # noqa: E402
from models import build_model  # noqa: E402


def pump(seconds: float, until=lambda: False) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not until():
        QCoreApplication.processEvents()
        time.sleep(0.01)


def idle() -> int:
    from core.audio.devices import list_devices
    server = JackServer().start()
    print(f"devices_before: {len(list_devices()[0])}")
    server.kill()
    print(f"devices: {list_devices(rescan=True)[1]}")
    return 0


def main() -> int:
    app = QApplication.instance() or QApplication([])
    server = JackServer().start()
    view = LiveView()
    view.session.set_model(build_model("audio-dae", {"hidden": 32, "layers": 1}))
    if not view.start():
        print(f"message: {view.message.text()}")
        return 1
    pump(1.0)
    server.kill()
    started = time.monotonic()
    pump(10.0, until=lambda: not view.running)
    print(f"stop_s: {time.monotonic() - started:.2f}")
    print(f"running: {view.running}")
    print(f"message: {view.message.text()}")
    view.session.refresh(rescan=True)
    print(f"devices: {view.message.text()}")
    view.session.feed(np.zeros((1, 16000), np.float32), 16000)
    pump(1.0)
    print(f"feed_blocks: {view.engine.stats.blocks}")
    view.session.stop()
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(idle() if sys.argv[1:] == ["idle"] else main())
