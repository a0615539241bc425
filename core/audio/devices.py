"""Sound devices through PortAudio (``sounddevice``): listing them, and a live duplex stream that runs
a ``LiveEngine`` in PortAudio's callback.

Nothing here raises on a machine without sound: ``list_devices`` says why there is nothing, and the
rest of the app goes on. ``device_rate`` picks the rate a device pair runs at (its default, or the supported
rate nearest it), and ``play`` resamples to the device's rate, so a 44.1 or 48 kHz card works with a 16 kHz
model. What PortAudio's host APIs print while probing (ALSA's ``paInvalidSampleRate`` lines, libjack's
"cannot connect") goes to the log, not to stderr (``quiet_stderr``). A stream that dies (device unplugged, sound server gone) is noticed by
``LiveStream.problem`` and stopped cleanly. PortAudio cannot shut down once the JACK server it connected
to at start-up is gone (its JACK backend asserts and aborts the process): then PortAudio is abandoned
for the session (no rescans, no shutdown at exit) and the app says to restart it for live audio.
"""
from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import logging
import os
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..errors import AudioDeviceError
from ..threads import stop_at_exit
from .engine import LiveConfig, LiveEngine
from .io import match_channels, resample

log = logging.getLogger(__name__)

COMMON_RATES = (8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000)
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


@contextmanager
def quiet_stderr():
    """What C libraries write to the process's stderr meanwhile goes to the log (debug level) instead."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no stderr to guard
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            said = sink.read().decode(errors="replace").strip()
            if said:
                log.debug("the sound system said: %s", said)


def _sounddevice():
    """The ``sounddevice`` module, or ``AudioDeviceError`` when PortAudio cannot be loaded. Its PortAudio
    shutdown at exit is replaced by one that is skipped when it would abort (see the module's docstring)."""
    try:
        with quiet_stderr():
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
            with quiet_stderr():
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


def _accepts(input_device: int | None, output_device: int | None, rate: int, channels: int) -> bool:
    """Whether PortAudio can open the pair (either may be None) at ``rate`` with ``channels``."""
    sd = _sounddevice()
    try:
        with quiet_stderr():
            if input_device is not None:
                sd.check_input_settings(device=input_device, samplerate=rate, channels=channels, dtype="float32")
            if output_device is not None:
                sd.check_output_settings(device=output_device, samplerate=rate, channels=channels, dtype="float32")
    except Exception:  # PortAudioError, ValueError: not at this rate
        return False
    return True


def device_rate(devices: list[AudioDevice], input_device: int | None, output_device: int | None,
                channels: int = 1) -> int | None:
    """The rate the pair runs at: the input's default rate (else the output's) if both take it, else the
    supported rate nearest it; None if they share none."""
    by_index = {d.index: d for d in devices}
    chosen = [by_index[i] for i in (input_device, output_device) if i in by_index]
    if not chosen:
        return None
    default = int(chosen[0].default_rate)
    for rate in sorted({default, *(int(d.default_rate) for d in chosen), *COMMON_RATES},
                       key=lambda r: (abs(r - default), -r)):
        if _accepts(input_device, output_device, rate, channels):
            return rate
    return None


def supported_rates(input_device: int | None, output_device: int | None, channels: int = 1) -> list[int]:
    """The common rates the pair accepts."""
    return [rate for rate in COMMON_RATES if _accepts(input_device, output_device, rate, channels)]


def playable(wave: np.ndarray, rate: int, device: AudioDevice) -> tuple[np.ndarray, int]:
    """(wave, rate) as ``device`` can play it: at its own rate if it does not take ``rate`` (resampled),
    with no more channels than it has."""
    wave = match_channels(wave, min(wave.shape[0], max(1, device.max_outputs)))
    if _accepts(None, device.index, rate, wave.shape[0]):
        return wave, rate
    target = device_rate([device], None, device.index, wave.shape[0]) or int(device.default_rate)
    return resample(wave, rate, target), target


def play(wave, rate: int, device: int | None = None) -> None:
    """Play a (C, T) wave on ``device`` in the background (sounddevice's ``play``); stops any other playback.
    The wave must be at a rate the device takes (``playable``)."""
    if _abandoned:
        raise AudioDeviceError(_abandoned)
    sd = _sounddevice()
    try:
        with quiet_stderr():
            sd.play(wave.T, int(rate), device=device)
    except Exception as exc:  # PortAudioError, ValueError for a rate or channel count the device lacks
        raise AudioDeviceError(f"could not play on the output device at {rate} Hz: {exc}") from exc


def stop_playback() -> None:
    if not _abandoned:
        _sounddevice().stop(ignore_errors=True)


class LiveStream:
    """A duplex PortAudio stream opened as ``config`` says (the config ``engine`` runs with), whose callback
    is ``engine.process``.

    ``problem`` is '' while all is well; it names what went wrong once the stream died (a callback error,
    the device stopping or going away). ``stop`` is safe to call at any time, more than once.
    """

    def __init__(self, config: LiveConfig, engine: LiveEngine, input_device: int | None, output_device: int | None):
        if engine.config != config:
            raise ValueError(f"the engine runs with {engine.config}, the stream would open {config}")
        self.config, self.engine = config, engine
        self.devices = (input_device, output_device)
        self._stream = None
        self._error = ""
        self._stopping = False
        self._last_callback = 0.0

    def start(self) -> "LiveStream":
        if _abandoned:
            raise AudioDeviceError(_abandoned)
        sd = _sounddevice()
        c = self.config
        try:
            with quiet_stderr():
                self._stream = sd.Stream(device=self.devices, samplerate=c.rate, blocksize=c.block,
                                         channels=c.channels, dtype="float32", latency="low",
                                         callback=self._callback, finished_callback=self._finished)
                self._last_callback = time.monotonic()
                self._stream.start()
            stop_at_exit(self)
        except Exception as exc:  # PortAudioError, ValueError for bad settings
            self.stop()
            raise AudioDeviceError(f"could not open the sound device at {c.rate} Hz, {c.block}-frame blocks, "
                                   f"{c.channels} channel(s): {exc}") from exc
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
