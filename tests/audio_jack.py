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

import numpy as np

RATE, PERIOD = 48000, 480  # a sound card's rate; the model runs at 16 kHz


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
    """``jackd --no-realtime -d dummy`` under a unique server name (so parallel runs do not meet). One a process:
    libjack does not connect to a second server after the first has gone (``tests/conftest.py``'s ``jack_server``)."""

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


def jack_device() -> int:
    from core.audio.devices import list_devices
    devices, problem = list_devices()
    assert not problem, problem
    return next(d.index for d in devices if d.host_api.startswith("JACK"))


def play_and_record(server: JackServer, signal: np.ndarray, tail_s: float = 0.5) -> np.ndarray:
    """Be the microphone, and another app: play ``signal`` into PortAudio's input port from one JACK
    client, and record PortAudio's output port from a second one (as a call app would), for as long plus
    ``tail_s``. Returns the recording (JACK's clock: sample i recorded while sample i was played)."""
    player, other_app = server.client("latent-explorer-test-mic"), server.client("latent-explorer-test-call")
    mic, ear = player.outports.register("mic"), other_app.inports.register("in")
    play = np.concatenate([signal, np.zeros(int(tail_s * server.rate), np.float32)]).astype(np.float32)
    rec = np.zeros_like(play)
    state = {"armed": False, "played": 0, "frame": None, "recorded": 0}

    @player.set_process_callback
    def play_block(frames: int) -> None:
        out = mic.get_array()
        i = state["played"]
        if not state["armed"] or i >= len(play):
            out.fill(0)
            return
        if i == 0:
            state["frame"] = player.last_frame_time  # the JACK frame the signal starts at
        n = min(frames, len(play) - i)
        out[:n], out[n:] = play[i:i + n], 0.0
        state["played"] = i + frames

    @other_app.set_process_callback
    def record_block(frames: int) -> None:
        if state["frame"] is None:
            return
        i = other_app.last_frame_time - state["frame"]  # where in the signal this block was played
        if 0 <= i < len(play):
            n = min(frames, len(play) - i)
            rec[i:i + n] = ear.get_array()[:n]
            state["recorded"] = i + n

    with player, other_app:
        for port in player.get_all_connections("PortAudio:in_0"):
            player.disconnect(port, "PortAudio:in_0")  # the app hears only us, not system:capture
        player.connect(mic, "PortAudio:in_0")
        other_app.connect("PortAudio:out_0", ear)
        state["armed"] = True
        deadline = time.monotonic() + 3 * len(play) / server.rate + 10
        while state["recorded"] < len(play) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert state["recorded"] >= len(play), "the sound server stopped calling us"
    return rec


def align(recording: np.ndarray, reference: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    """The stretch of ``recording`` that lines up with ``reference`` (by cross-correlation, lags up to 0.4 s),
    and its lag."""
    n, max_lag = len(reference), 4 * rate // 10
    spectrum = np.fft.rfft(recording, 2 * len(recording)) * np.conj(np.fft.rfft(reference, 2 * len(recording)))
    lag = int(np.argmax(np.fft.irfft(spectrum)[:max_lag]))
    return recording[lag:lag + n], lag


def windowed_gains(recording: np.ndarray, noisy: np.ndarray, clean: np.ndarray, rate: int,
                   window_s: float = 0.5) -> np.ndarray:
    """SI-SDR improvement (dB) of ``recording`` over ``noisy`` against ``clean``, window by window, each window
    aligned on its own within 0.2 s of the last one's lag (a dropout that loses input, or pads output, shifts what
    follows it); NaN for windows of near silence. Window ``i`` starts at ``i * window_s``."""
    from core.audio.metrics import si_sdr
    n, reach = int(window_s * rate), rate // 5
    loud = np.sqrt(np.mean(clean ** 2))
    gains, lag = [], align(recording, clean[:min(len(clean), 4 * n)], rate)[1]
    for start in range(0, len(clean) - n + 1, n):
        ref = clean[start:start + n]
        if np.sqrt(np.mean(ref ** 2)) < 0.3 * loud:
            gains.append(np.nan)
            continue
        lo = max(0, start + lag - reach)
        out, found = align(recording[lo:lo + n + 2 * reach], ref, rate) if lo + n < len(recording) else (ref[:0], 0)
        if len(out) < n:  # the recording ended
            gains.append(np.nan)
            continue
        lag = lo + found - start
        gains.append(float(si_sdr(out, ref) - si_sdr(noisy[start:start + n], ref)))
    return np.array(gains)
