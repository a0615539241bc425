"""The Audio panel's session, headless: the denoiser in use, the sound devices and the one ``LiveConfig`` (rate,
block, channels) that the live engine and the device stream both read, live start and stop, a recording fed
into the live path instead of a microphone, and the microphone other apps can pick.

The file view's offline denoising is ``core.sessions.audio_file``, the Train tab's form and "learn my voice"
``core.sessions.audio_train``; ``AudioSession`` holds them as ``file`` and ``train`` so that every tab sees the
same model and output device. Views redraw on ``listen(what)``: "model", "devices", "config", "live",
"message", "send". Slow steps are ``Work`` (the GUI runs ``compute`` off the UI thread).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.audio.devices import (AudioDevice, LiveStream, default_devices, device_rate, list_devices,
                                supported_rates)
from core.audio.engine import LiveConfig, LiveEngine
from core.audio.feed import FileFeed
from core.audio.io import match_channels, read_audio, resample
from core.audio.pretrained import default_denoiser_path
from core.audio.virtual_mic import MIC_NAME, VirtualMic
from core.errors import AudioDeviceError
from core.train.checkpoint import load_for

from . import Work
from .audio_file import FileSession
from .audio_train import AudioTrainSession
from .listeners import Listeners

BLOCK_MS = (5, 10, 20, 40)  # block choices, as durations at the chosen rate
POWER_BLOCKS = (128, 256, 512, 1024)
DEFAULT_BLOCK_MS = 20
MONITOR_S = 4.0  # seconds the scrolling views show


def load_denoiser(path: Path):
    """A denoiser checkpoint's model (``LatentExplorerError`` for anything else)."""
    return load_for(Path(path), "denoises")[0]


def block_for(rate: int, ms: float = DEFAULT_BLOCK_MS) -> int:
    return max(1, round(rate * ms / 1000))


class AudioSession:
    def __init__(self):
        self.listeners = Listeners()
        self.model = None
        self.model_path: Path | None = None
        self.devices: list[AudioDevice] = []
        self.device_problem = "not looked for yet"
        self.looked = False  # whether ``refresh`` has run
        self.input: int | None = None
        self.output: int | None = None
        self.config = LiveConfig(16000, block_for(16000))
        self.engine: LiveEngine | None = None
        self.source: LiveStream | FileFeed | None = None
        self.wet, self.bypass = 1.0, False
        self.message = ""
        self.send_wanted, self.mic, self.send_text = False, None, ""
        self._mic_pending = False  # a microphone for other apps is being made
        self.file = FileSession(self)
        self.train = AudioTrainSession(self)

    def listen(self, listener) -> None:
        self.listeners.listen(listener)

    def _changed(self, what: str) -> None:
        self.listeners.notify(what)

    def say(self, text: str) -> None:
        self.message = text
        self._changed("message")

    # --- the model ----------------------------------------------------------------------------
    def set_model(self, model, path: Path | None = None) -> None:
        """Use ``model`` from the next Start on; a running stream stops (its model changed)."""
        was_running = self.running
        if was_running:
            self.stop()
        self.model, self.model_path = model, Path(path) if path else None
        if model is not None and not model.capabilities.streams:
            self.say(f"{model.name} looks ahead, so it cannot run live; train audio-dae for the live view (the File "
                     "tab works with any model).")
        elif was_running:
            self.say("The model changed: press Start to denoise with the new one.")
        self._changed("model")

    def open_model(self, path: str | Path) -> Work:
        """Load a checkpoint (off the UI thread); a bad file raises and leaves the current model in place."""
        path = Path(path)
        return Work(f"opening {path.name}", load_denoiser, (path,), lambda model: self.set_model(model, path))

    def first_launch(self) -> Work | None:
        """The shipped denoiser, opened when no model is (None if one is, or none ships)."""
        path = default_denoiser_path()
        if self.model is not None or not path.is_file():
            return None
        return self.open_model(path)

    @property
    def is_shipped_model(self) -> bool:
        return self.model_path is not None and self.model_path == default_denoiser_path()

    def describe_model(self) -> str:
        m = self.model
        if m is None:
            return "<b>No denoiser yet</b> — train one (Train tab) or open a checkpoint."
        where = (" (the shipped model)" if self.is_shipped_model else
                 f" from {self.model_path.parent.name}/{self.model_path.name}" if self.model_path else "")
        latency = (f", {1000 * m.latency_samples / m.sample_rate:.0f} ms latency" if m.capabilities.streams else
                   ", offline only")
        return f"<b>{m.name}</b>{where}: {m.sample_rate} Hz, {'mono' if m.channels == 1 else 'stereo'}{latency}"

    # --- devices and the live config ------------------------------------------------------------
    def refresh(self, rescan: bool = False) -> None:
        """Look for sound devices (``rescan``: restart PortAudio first, to see ones added since); keep the chosen
        ones if they are still there, else take the defaults; the rate follows the devices."""
        if rescan and self.running:
            return
        self.devices, self.device_problem = list_devices(rescan=rescan)
        self.looked = True
        default_in, default_out = default_devices() if not self.device_problem else (None, None)
        ins, outs = ([d.index for d in self.devices if getattr(d, kind)] for kind in ("max_inputs", "max_outputs"))
        self.input = self.input if self.input in ins else default_in if default_in in ins else \
            (ins[0] if ins else None)
        self.output = self.output if self.output in outs else default_out if default_out in outs else \
            (outs[0] if outs else None)
        self.say(f"Live audio: {self.device_problem}. Feed a file to try the denoiser; the rest of the app works."
                 if self.device_problem else "")
        self._follow_devices()
        self._changed("devices")

    @property
    def has_devices(self) -> bool:
        return self.input is not None and self.output is not None

    def inputs(self) -> list[AudioDevice]:
        return [d for d in self.devices if d.max_inputs]

    def outputs(self) -> list[AudioDevice]:
        return [d for d in self.devices if d.max_outputs]

    def output_device(self) -> AudioDevice | None:
        return next((d for d in self.devices if d.index == self.output), None)

    def choose_devices(self, input_index: int | None, output_index: int | None) -> None:
        if self.running or (input_index, output_index) == (self.input, self.output):
            return
        self.input, self.output = input_index, output_index
        self._follow_devices()
        self._changed("devices")

    def _follow_devices(self) -> None:
        """The rate becomes the chosen devices' own (or the nearest they take); the block keeps its duration."""
        rate = device_rate(self.devices, self.input, self.output, self.config.channels) if self.has_devices else None
        if rate is not None:
            self.set_rate(rate)

    def rates(self) -> list[int]:
        """The rates the chosen devices take (all common rates while there are none)."""
        rates = supported_rates(self.input, self.output, self.config.channels) if self.has_devices else []
        return sorted(set(rates or [8000, 16000, 22050, 32000, 44100, 48000]) | {self.config.rate})

    def blocks(self) -> list[int]:
        rate = self.config.rate
        return sorted({block_for(rate, ms) for ms in BLOCK_MS} | set(POWER_BLOCKS) | {self.config.block})

    def set_rate(self, rate: int) -> None:
        """A new rate; the block keeps its duration."""
        old = self.config
        if rate == old.rate:
            return
        self._set_config(LiveConfig(int(rate), block_for(rate, old.block_ms), old.channels))

    def set_block(self, block: int) -> None:
        self._set_config(LiveConfig(self.config.rate, int(block), self.config.channels))

    def set_channels(self, channels: int) -> None:
        self._set_config(LiveConfig(self.config.rate, self.config.block, int(channels)))

    def _set_config(self, config: LiveConfig) -> None:
        if self.running or config == self.config:
            return
        self.config = config
        self._changed("config")

    # --- live ---------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.source is not None

    @property
    def can_run(self) -> bool:
        return self.model is not None and self.model.capabilities.streams and not self.running

    def _engine(self, config: LiveConfig) -> LiveEngine | None:
        if self.model is None or not self.model.capabilities.streams:
            self.say("Open or train a streaming denoiser (audio-dae) first.")
            return None
        return LiveEngine(self.model, config, monitor_s=MONITOR_S)

    def start(self) -> bool:
        """Denoise the chosen input device into the chosen output device; False (and a message) if it fails."""
        if self.running or not self.has_devices:
            return False
        config = self.config
        try:
            engine = self._engine(config)
            if engine is None:
                return False
            source = LiveStream(config, engine, self.input, self.output).start()
        except (AudioDeviceError, ValueError) as exc:
            self.say(str(exc))
            return False
        self._began(engine, source, "")
        return True

    def feed(self, wave: np.ndarray, rate: int, name: str = "a recording") -> bool:
        """Denoise a recording (C, T) live, at the model's rate, looping; no sound device needed."""
        if self.running or self.model is None:
            return False
        config = LiveConfig(self.model.sample_rate, block_for(self.model.sample_rate, self.config.block_ms),
                            self.config.channels)
        engine = self._engine(config)
        if engine is None:
            return False
        wave = resample(match_channels(wave, config.channels), rate, config.rate)
        self._began(engine, FileFeed(config, engine, wave).start(),
                    f"Feeding {name} into the denoiser (looping) instead of a microphone.")
        return True

    def feed_file(self, path: str | Path) -> Work:
        """Read ``path`` (off the UI thread), then feed it."""
        path = Path(path)
        return Work(f"reading {path.name}", read_audio, (path,), lambda result: self.feed(*result, name=path.name))

    def _began(self, engine: LiveEngine, source, message: str) -> None:
        self.engine, self.source = engine, source
        self._apply_mix()
        self.say(message)
        self._changed("live")

    def stop(self) -> None:
        """Stop live audio or the feed; what said it was running goes with it."""
        if self.source is not None:
            self.source.stop()
        was_running, self.source = self.source is not None, None
        self._close_send()
        if was_running:
            self.say("")
        self._changed("live")

    def poll(self) -> None:
        """Called on a timer while running: a stream that died stops, with a message saying why."""
        problem = self.source.problem if self.source is not None else ""
        if problem:
            self.stop()
            self.say(f"Live audio stopped: {problem}.")

    def set_mix(self, wet: float, bypass: bool) -> None:
        self.wet, self.bypass = float(wet), bool(bypass)
        self._apply_mix()

    def _apply_mix(self) -> None:
        if self.engine is not None:
            self.engine.wet, self.engine.bypass = self.wet, self.bypass

    def stats_text(self) -> str:
        e = self.engine
        if e is None:
            return ""
        s = e.stats
        device_ms = self.source.device_latency_ms if self.source is not None else 0.0
        high = "  ·  the band above the model's kept" if e.high_band is not None else ""
        return (f"delay {e.latency_ms:.1f} ms (model {e.model_latency_ms:.0f} ms)"
                + (f" + device {device_ms:.1f} ms" if device_ms else "")
                + f"  ·  {e.rate} Hz{high}  ·  real-time factor {s.rtf:.3f} (slowest block {1000 * s.busy_max_s:.1f} ms "
                f"of {e.config.block_ms:.1f})  ·  dropouts {s.xruns}  ·  {s.blocks} blocks")

    # --- send to other apps -------------------------------------------------------------------
    def set_send(self, wanted: bool) -> Work | None:
        """Open or close the microphone for other apps (only while live runs); opening is a ``Work``."""
        self.send_wanted = wanted
        return self._apply_send()

    def _apply_send(self) -> Work | None:
        if not self.send_wanted or not self.running:
            self._close_send()
            return None
        if self.mic is not None or self._mic_pending:
            return None
        output = self.output_device()
        if isinstance(self.source, LiveStream) and output is not None and "JACK" in output.label:
            self._send_says("JACK: connect this app's output ports (PortAudio:out_…) to the other app, e.g. in a "
                            "patchbay")
            return None
        engine, self._mic_pending = self.engine, True
        self._send_says("Making the microphone for other apps…")
        return Work("making the microphone for other apps", VirtualMic(engine.rate, engine.channels).open, (),
                    lambda mic: self._sending(engine, mic))

    def send_failed(self, message: str) -> None:
        self._mic_pending = False
        self._send_says(f"Not sent to other apps: {message}")

    def _sending(self, engine: LiveEngine, mic: VirtualMic) -> None:
        self._mic_pending = False
        if engine is not self.engine or not self.running or not self.send_wanted:
            mic.close()  # stopped (or unchecked) meanwhile
            return
        self.mic, engine.send = mic, mic.write
        self._send_says(f"Other apps can pick the microphone “{MIC_NAME}”")

    def _close_send(self) -> None:
        if self.engine is not None:
            self.engine.send = None
        if self.mic is not None:
            self.mic.close()
            self.mic = None
        self._send_says("")

    def _send_says(self, text: str) -> None:
        self.send_text = text
        self._changed("send")

    def send_work(self) -> Work | None:
        """While live runs: the Work that opens the microphone for other apps if it is wanted and not there."""
        return self._apply_send() if self.running else None

    def shutdown(self) -> None:
        """Stop live audio and playback (the app is closing)."""
        self.stop()
        self.file.stop_playback()

