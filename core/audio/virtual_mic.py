"""A microphone other apps can pick: the denoised voice as "Latent Explorer (denoised)".

Under PulseAudio, or PipeWire with its Pulse server (``pipewire-pulse``), ``VirtualMic.open`` loads a
null sink and a source remapped from the sink's monitor, described as ``MIC_NAME``; call apps list
that source among their microphones. The live engine's output is played into the sink by ``pacat``,
fed by a writer thread from a bounded queue, so the audio callback never waits on it. ``close`` stops
``pacat`` and unloads both modules, so the microphone is there exactly while live denoising runs.
Under JACK nothing has to be made: the app's output ports can be connected to any other client.
"""
from __future__ import annotations

import queue
import shutil
import subprocess
from contextlib import suppress

import numpy as np

from ..errors import AudioDeviceError
from ..threads import start_thread, stop_at_exit

MIC_NAME = "Latent Explorer (denoised)"
SINK, SOURCE = "latent_explorer_denoised_sink", "latent_explorer_denoised"
QUEUE_BLOCKS = 64  # blocks waiting for pacat at most; more are dropped (and counted)
PACAT_LATENCY_MS = 40  # pacat's buffer: room for a late block or two without a gap
TIMEOUT_S = 5.0


def pulse_problem() -> str:
    """'' if a PulseAudio (or PipeWire-Pulse) server answers here, else why a virtual microphone cannot be made."""
    missing = [tool for tool in ("pactl", "pacat") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not found (Debian package pulseaudio-utils)"
    try:
        done = subprocess.run(["pactl", "info"], capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return "the PulseAudio/PipeWire server does not answer"
    if done.returncode:
        return "no PulseAudio or PipeWire server is running"
    return ""


def _pactl(*args: str) -> str:
    done = subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=TIMEOUT_S)
    if done.returncode:
        raise AudioDeviceError(f"pactl {args[0]} {args[1] if len(args) > 1 else ''} failed: "
                               f"{(done.stderr or done.stdout).strip()[:200]}")
    return done.stdout.strip()


class VirtualMic:
    """``MIC_NAME`` as a source of ``channels`` channels at ``rate`` Hz while open; ``write`` feeds it."""

    def __init__(self, rate: int, channels: int = 1):
        self.rate, self.channels = int(rate), int(channels)
        self.dropped = 0  # blocks that did not fit in the queue (pacat fell behind)
        self._modules: list[str] = []
        self._pacat: subprocess.Popen | None = None
        self._queue: queue.Queue = queue.Queue(QUEUE_BLOCKS)
        self._thread = None

    def open(self) -> "VirtualMic":
        """Make the sink and the source and start playing into the sink; ``AudioDeviceError`` if it fails."""
        problem = pulse_problem()
        if problem:
            raise AudioDeviceError(f"cannot make a microphone for other apps: {problem}")
        try:
            self._modules.append(_pactl("load-module", "module-null-sink", f"sink_name={SINK}", f"rate={self.rate}",
                                        f"channels={self.channels}",
                                        f"sink_properties='device.description=\"{MIC_NAME} output\"'"))
            self._modules.append(_pactl("load-module", "module-remap-source", f"master={SINK}.monitor",
                                        f"source_name={SOURCE}",
                                        f"source_properties='device.description=\"{MIC_NAME}\"'"))
            self._pacat = subprocess.Popen(
                ["pacat", "--playback", f"--device={SINK}", "--format=float32le", f"--rate={self.rate}",
                 f"--channels={self.channels}", "--raw", f"--latency-msec={PACAT_LATENCY_MS}",
                 "--client-name=Latent Explorer", f"--stream-name={MIC_NAME}"],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except (AudioDeviceError, OSError, subprocess.TimeoutExpired) as exc:
            self.close()
            raise AudioDeviceError(f"cannot make a microphone for other apps: {exc}") from exc
        self._thread = start_thread(self._write_loop, name="virtual-mic-writer")
        stop_at_exit(self)
        return self

    def write(self, block: np.ndarray) -> None:
        """Queue (frames, channels) float32 for the microphone; never blocks (a full queue drops the block)."""
        try:
            self._queue.put_nowait(np.array(block, dtype=np.float32))
        except queue.Full:
            self.dropped += 1

    def _write_loop(self) -> None:
        pacat = self._pacat
        while True:
            block = self._queue.get()
            if block is None:
                return
            try:
                pacat.stdin.write(block.tobytes())
                pacat.stdin.flush()
            except (OSError, ValueError):  # pacat ended (closed, or the server went away)
                return

    def close(self) -> None:
        """Stop playing and remove the sink and the source; safe to call more than once."""
        pacat, thread = self._pacat, self._thread
        self._pacat = self._thread = None
        if thread is not None:
            with suppress(queue.Empty):
                while True:
                    self._queue.get_nowait()
            self._queue.put_nowait(None)
        if pacat is not None:
            pacat.terminate()  # a write the writer is blocked in fails now
            try:
                pacat.wait(TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pacat.kill()
            with suppress(OSError):
                pacat.stdin.close()
        if thread is not None:
            thread.join(TIMEOUT_S)
        for module in reversed(self._modules):
            with suppress(AudioDeviceError, OSError, subprocess.TimeoutExpired):
                _pactl("unload-module", module)  # (fails only when the server, and the module with it, is gone)
        self._modules = []

    stop = close  # for core.threads.stop_at_exit
