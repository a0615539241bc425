"""Sound devices through PortAudio (``sounddevice``): listing them, and a live duplex stream that runs
a ``LiveEngine`` in PortAudio's callback.

Nothing here raises on a machine without sound: ``list_devices`` says why there is nothing, and the
rest of the app goes on. A stream that dies (device unplugged, sound server gone) is noticed by
``LiveStream.problem`` and stopped cleanly. PortAudio cannot shut down once the JACK server it connected
to at start-up is gone (its JACK backend asserts and aborts the process): then PortAudio is abandoned
for the session (no rescans, no shutdown at exit) and the app says to restart it for live audio.
"""
from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import logging
import threading
import time
from dataclasses import dataclass

from ..errors import AudioDeviceError
from ..threads import stop_at_exit
from .engine import LiveEngine

log = logging.getLogger(__name__)

STALL_S = 1.0  # no callback for this long while running: the device is gone
CLOSE_TIMEOUT_S = 1.0
_exit_guarded = False
_abandoned = ""  # set when PortAudio cannot be closed (a dead stream or JACK server): unusable until a restart


@dataclass(frozen=True)
class AudioDevice:
    index: int
    name: str
    host_api: str
    max_inputs: int
    max_outputs: int
    default_rate: float

    @property
    def label(self) -> str:
        return f"{self.name} ({self.host_api})"


def _sounddevice():
    """The ``sounddevice`` module, or ``AudioDeviceError`` when PortAudio cannot be loaded. Its PortAudio
    shutdown at exit is replaced by one that is skipped when it would abort (see the module's docstring)."""
    try:
        import sounddevice
    except OSError as exc:  # libportaudio missing
        raise AudioDeviceError(f"no sound system: PortAudio could not be loaded ({exc})") from exc
    global _exit_guarded
    if not _exit_guarded:
        atexit.unregister(sounddevice._exit_handler)
        atexit.register(_terminate_at_exit, sounddevice)
        _exit_guarded = True
    return sounddevice


def _terminate_at_exit(sd) -> None:
    if not _abandoned and _can_terminate(sd):
        sd._exit_handler()


def _can_terminate(sd) -> bool:
    """Whether PortAudio can shut down: False when it has a JACK host API whose server no longer answers."""
    if not any("JACK" in api["name"] for api in sd.query_hostapis()):
        return True
    try:
        jack = ctypes.CDLL(ctypes.util.find_library("jack") or "libjack.so.0")
    except OSError:
        return True
    jack.jack_client_open.restype = ctypes.c_void_p
    jack.jack_client_close.argtypes = [ctypes.c_void_p]
    status = ctypes.c_int()
    client = jack.jack_client_open(b"latent-explorer-probe", ctypes.c_int(1), ctypes.byref(status))  # no start
    if client:
        jack.jack_client_close(ctypes.c_void_p(client))
    return bool(client)


def list_devices(rescan: bool = False) -> tuple[list[AudioDevice], str]:
    """(devices, problem): every device PortAudio sees; ``problem`` says why the list is empty (else '').

    ``rescan`` restarts PortAudio first, so that devices (or a sound server) added since are seen; only
    call it while no stream is open.
    """
    if _abandoned:
        return [], _abandoned
    try:
        sd = _sounddevice()
        if rescan and not _can_terminate(sd):
            _abandon_portaudio()
            return [], _abandoned
        if rescan:
            sd._terminate()  # PortAudio only looks for devices when it starts (documented workaround)
            sd._initialize()
        apis = sd.query_hostapis()
        devices = [AudioDevice(i, d["name"], apis[d["hostapi"]]["name"], d["max_input_channels"],
                               d["max_output_channels"], d["default_samplerate"])
                   for i, d in enumerate(sd.query_devices())]
    except AudioDeviceError as exc:
        return [], str(exc)
    except Exception as exc:  # PortAudio errors while probing: report, do not crash
        return [], f"could not list sound devices ({type(exc).__name__}: {exc})"
    if not any(d.max_inputs for d in devices) or not any(d.max_outputs for d in devices):
        return devices, "no audio input and output devices found" if not devices else \
            f"no audio {'input' if not any(d.max_inputs for d in devices) else 'output'} device found"
    return devices, ""


def default_devices() -> tuple[int | None, int | None]:
    """PortAudio's default (input, output) device indices, None where there is none."""
    try:
        pair = _sounddevice().default.device
    except AudioDeviceError:
        return None, None
    return tuple(None if i is None or i < 0 else int(i) for i in pair)


def play(wave, rate: int, device: int | None = None) -> None:
    """Play a (C, T) wave on ``device`` in the background (sounddevice's ``play``); stops any other playback."""
    if _abandoned:
        raise AudioDeviceError(_abandoned)
    sd = _sounddevice()
    try:
        sd.play(wave.T, int(rate), device=device)
    except Exception as exc:  # PortAudioError, ValueError for a rate or channel count the device lacks
        raise AudioDeviceError(f"could not play on the output device: {exc}") from exc


def stop_playback() -> None:
    if not _abandoned:
        _sounddevice().stop(ignore_errors=True)


class LiveStream:
    """A duplex PortAudio stream whose callback is ``engine.process``.

    ``problem`` is '' while all is well; it names what went wrong once the stream died (a callback error,
    the device stopping or going away). ``stop`` is safe to call at any time, more than once.
    """

    def __init__(self, engine: LiveEngine, input_device: int | None, output_device: int | None):
        self.engine = engine
        self.devices = (input_device, output_device)
        self._stream = None
        self._error = ""
        self._stopping = False
        self._last_callback = 0.0

    def start(self) -> "LiveStream":
        if _abandoned:
            raise AudioDeviceError(_abandoned)
        sd = _sounddevice()
        e = self.engine
        try:
            self._stream = sd.Stream(device=self.devices, samplerate=e.rate, blocksize=e.block,
                                     channels=e.channels, dtype="float32", latency="low",
                                     callback=self._callback, finished_callback=self._finished)
            self._last_callback = time.monotonic()
            self._stream.start()
            stop_at_exit(self)
        except Exception as exc:  # PortAudioError, ValueError for bad settings
            self.stop()
            raise AudioDeviceError(f"could not open the sound device at {e.rate} Hz, {e.block}-frame blocks, "
                                   f"{e.channels} channel(s): {exc}") from exc
        return self

    def _callback(self, indata, outdata, frames, time_info, status) -> None:
        self._last_callback = time.monotonic()
        if status.input_overflow or status.output_underflow:
            self.engine.flag_xrun()
        try:
            self.engine.process(indata, outdata)
        except Exception as exc:  # never let a bug kill the audio thread silently
            outdata.fill(0)
            self._error = f"the audio processing failed ({type(exc).__name__}: {exc})"
            raise _sounddevice().CallbackAbort from exc

    def _finished(self) -> None:
        if not self._stopping and not self._error:
            self._error = "the audio device stopped (disconnected, or the sound server quit)"

    @property
    def device_latency_ms(self) -> float:
        """PortAudio's input + output latency of the open stream, in ms."""
        if self._stream is None:
            return 0.0
        latency = self._stream.latency
        return 1000.0 * (sum(latency) if isinstance(latency, tuple) else latency)

    @property
    def problem(self) -> str:
        if self._error or self._stream is None or self._stopping:
            return self._error
        if not self._stream.active:
            return "the audio device stopped (disconnected, or the sound server quit)"
        if time.monotonic() - self._last_callback > STALL_S:
            return (f"the audio device delivered nothing for over {STALL_S:.0f} s "
                    "(disconnected, or the sound server quit)")
        return ""

    @property
    def running(self) -> bool:
        return self._stream is not None and not self._stopping and not self.problem

    def stop(self) -> None:
        """Stop and close the stream. Closing runs in a helper thread: a stream whose sound server died
        can block PortAudio for minutes (its JACK backend waits for a server that is gone); such a stream
        is abandoned, so the app goes on (without live audio until it restarts) and exits cleanly; so is
        PortAudio after a stream died with its JACK server."""
        died = bool(self.problem)
        self._stopping = True
        stream, self._stream = self._stream, None
        if stream is None:
            return
        closer = threading.Thread(target=_close, args=(stream,), name="audio-stream-close", daemon=True)
        closer.start()
        closer.join(CLOSE_TIMEOUT_S)
        if closer.is_alive() or (died and not _can_terminate(_sounddevice())):
            _abandon_portaudio()


def _close(stream) -> None:
    try:
        stream.abort(ignore_errors=True)
        stream.close(ignore_errors=True)
    except Exception as exc:  # a device that vanished can fail to close; it is gone either way
        log.warning("closing the audio stream: %s", exc)


def _abandon_portaudio() -> None:
    """Give up on PortAudio for this process: no more streams, and no PortAudio shutdown at exit (it
    would hang on the dead stream, then abort the process)."""
    global _abandoned
    _abandoned = ("the sound system went away and cannot be reopened in this session; "
                  "restart the app to use live audio again")
    log.warning(_abandoned)
