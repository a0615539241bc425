"""A real JACK sound server with no sound card (the dummy backend), for the live-audio tests.

PortAudio (``sounddevice``) sees JACK only if JACK runs when PortAudio starts, so starting the server
restarts PortAudio; stopping it restarts PortAudio again *before* the server goes (PortAudio's JACK
backend aborts the process if it has to shut down against a dead server).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

RATE, PERIOD = 16000, 256


def jack_available() -> str:
    """'' if a JACK server can be started here, else why not."""
    if shutil.which("jackd") is None:
        return "jackd is not installed (Debian package jackd2)"
    try:
        import jack  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"the JACK-Client package cannot load libjack ({exc})"
    return ""


def clear_stale_jack_state() -> None:
    """Remove the shared-memory files of JACK servers that died without cleaning up (killed ones).

    JACK's registry holds at most 8 servers and reclaims a dead entry only for a server of the same
    name, so killed test servers would fill it ("Too many servers already active"). Only done while no
    jackd runs on this machine, when every such file is stale."""
    if subprocess.run(["pgrep", "-x", "jackd"], capture_output=True).returncode == 0:
        return
    for f in Path("/dev/shm").glob("jack*"):
        shutil.rmtree(f, ignore_errors=True) if f.is_dir() else f.unlink(missing_ok=True)


class JackServer:
    """``jackd --no-realtime -d dummy`` under a unique server name (so parallel runs do not meet)."""

    def __init__(self, rate: int = RATE, period: int = PERIOD):
        self.name = f"latent-explorer-test-{os.getpid()}-{time.monotonic_ns() % 10**6}"
        self.rate, self.period = rate, period
        self.process: subprocess.Popen | None = None
        self._saved_env = os.environ.get("JACK_DEFAULT_SERVER")

    def start(self, timeout_s: float = 15.0) -> "JackServer":
        import jack
        clear_stale_jack_state()
        os.environ["JACK_DEFAULT_SERVER"] = self.name  # PortAudio's JACK backend connects to the default server
        self.process = subprocess.Popen(["jackd", "--no-realtime", "-n", self.name, "-d", "dummy", "-r",
                                         str(self.rate), "-p", str(self.period)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                jack.Client("latent-explorer-probe", servername=self.name, no_start_server=True).close()
                break
            except jack.JackOpenError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    code = self.process.poll()
                    self.stop()
                    raise RuntimeError(f"jackd did not start (exit code {code})")
                time.sleep(0.1)
        from core.audio.devices import list_devices
        list_devices(rescan=True)
        return self

    def client(self, name: str):
        import jack
        return jack.Client(name, servername=self.name, no_start_server=True)

    def kill(self) -> None:
        """The server goes away at once, as when a sound card is unplugged (PortAudio is left behind)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        import sounddevice
        if self.process is not None and self.process.poll() is None:
            sounddevice._terminate()  # while the server still runs: see the module's docstring
            self.process.terminate()
            self.process.wait(10)
            if self._saved_env is None:
                os.environ.pop("JACK_DEFAULT_SERVER", None)
            else:
                os.environ["JACK_DEFAULT_SERVER"] = self._saved_env
            sounddevice._initialize()
        self.process = None
