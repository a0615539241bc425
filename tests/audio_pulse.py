"""A real PulseAudio server with no sound card (a null sink only), for the "send to other apps" tests.

It runs in its own runtime folder with an anonymous socket; the tests' clients (``pactl``, ``pacat``,
``parec``, and the app's virtual microphone) reach it through ``PULSE_SERVER``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def pulse_available() -> str:
    """'' if a PulseAudio server can be started here, else why not."""
    missing = [tool for tool in ("pulseaudio", "pactl", "pacat", "parec") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not installed (Debian packages pulseaudio, pulseaudio-utils)"
    return ""


class PulseServer:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="latent-explorer-pulse-"))
        self.socket = self.dir / "native"
        self.process: subprocess.Popen | None = None
        self._saved = os.environ.get("PULSE_SERVER")

    def start(self, timeout_s: float = 15.0) -> "PulseServer":
        env = {**os.environ, "XDG_RUNTIME_DIR": str(self.dir), "HOME": str(self.dir)}
        env.pop("PULSE_SERVER", None)
        self.process = subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no", "--log-target=stderr",
             "-L", f"module-native-protocol-unix socket={self.socket} auth-anonymous=1",
             "-L", "module-null-sink sink_name=speakers"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.environ["PULSE_SERVER"] = f"unix:{self.socket}"
        deadline = time.monotonic() + timeout_s
        while subprocess.run(["pactl", "info"], capture_output=True).returncode:
            if self.process.poll() is not None or time.monotonic() > deadline:
                code = self.process.poll()
                self.stop()
                raise RuntimeError(f"pulseaudio did not start (exit code {code})")
            time.sleep(0.1)
        return self

    def sources(self) -> str:
        """``pactl list sources`` (every source with its properties)."""
        return subprocess.run(["pactl", "list", "sources"], capture_output=True, text=True, check=True).stdout

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None
        if self._saved is None:
            os.environ.pop("PULSE_SERVER", None)
        else:
            os.environ["PULSE_SERVER"] = self._saved
        shutil.rmtree(self.dir, ignore_errors=True)
