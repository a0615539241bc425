"""The live view: pick devices, start the denoiser on the microphone, listen (bypass, dry/wet), watch.

The audio runs in PortAudio's callback (``core.audio.devices.LiveStream``) or a file feed's thread;
this widget only starts and stops it, sets the bypass and mix flags the callback reads, and draws the
engine's monitors and statistics from a timer. Without sound devices it says so and offers the file feed.
"Send to other apps" makes the denoised voice a microphone call apps can pick while live runs
(``core.audio.virtual_mic``, made off the UI thread); on a JACK device it says which ports to connect.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QPushButton,
                               QSlider, QVBoxLayout, QWidget)

from core.audio.devices import AudioDevice, LiveStream, default_devices, list_devices
from core.audio.engine import LiveEngine
from core.audio.feed import FileFeed
from core.audio.io import match_channels, read_audio, resample
from core.audio.virtual_mic import MIC_NAME, VirtualMic
from core.errors import AudioDeviceError

from ..background.tasks import Task
from .views import LevelMeter, SignalPair

RATES = (8000, 16000, 22050, 32000, 44100, 48000)
BLOCKS = (128, 160, 256, 320, 512, 640, 1024)
DEFAULT_BLOCK = 320
TICK_MS = 50
VIEW_S = 4.0
AUDIO_FILTER = "Audio (*.wav *.flac *.ogg *.aiff *.aif);;All files (*)"


class LiveView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = None
        self.engine: LiveEngine | None = None
        self.source: LiveStream | FileFeed | None = None
        self.devices: list[AudioDevice] = []
        self.mic: VirtualMic | None = None

        self.input_combo, self.output_combo = QComboBox(), QComboBox()
        self.input_combo.setPlaceholderText("no input device")
        self.output_combo.setPlaceholderText("no output device")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Look for sound devices again (e.g. after plugging one in)")
        self.rate_combo, self.block_combo, self.channels_combo = QComboBox(), QComboBox(), QComboBox()
        for rate in RATES:
            self.rate_combo.addItem(f"{rate} Hz", rate)
        for block in BLOCKS:
            self.block_combo.addItem(str(block), block)
        self.block_combo.setCurrentIndex(BLOCKS.index(DEFAULT_BLOCK))
        self.block_combo.setToolTip("Frames per audio callback: smaller is less delay, larger is more robust")
        self.channels_combo.addItem("mono", 1)
        self.channels_combo.addItem("stereo", 2)
        self.start_button, self.stop_button = QPushButton("Start"), QPushButton("Stop")
        self.feed_button = QPushButton("Feed a file…")
        self.feed_button.setToolTip("Play a recording into the live denoiser instead of the microphone")
        self.bypass_check = QCheckBox("Bypass")
        self.bypass_check.setToolTip("Hear the input unprocessed (same delay), for A/B listening")
        self.wet_slider = QSlider(Qt.Orientation.Horizontal)
        self.wet_slider.setRange(0, 100)
        self.wet_slider.setValue(100)
        self.wet_label = QLabel()
        self.send_check = QCheckBox("Send to other apps")
        self.send_check.setToolTip(f"While live runs, call apps can pick the microphone “{MIC_NAME}” (PulseAudio "
                                   "or PipeWire); on JACK, connect this app's output ports to them")
        self.send_label = QLabel()
        self.send_label.setWordWrap(True)
        self.in_meter, self.out_meter = LevelMeter("In "), LevelMeter("Out")
        self.stats_label = QLabel()
        self.stats_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #9a6700")
        self.signals = SignalPair(("Input (noisy)", "Output (denoised)"), "press Start, or Feed a file…")

        grid = QGridLayout()
        grid.addWidget(QLabel("Input"), 0, 0)
        grid.addWidget(self.input_combo, 0, 1)
        grid.addWidget(QLabel("Output"), 0, 2)
        grid.addWidget(self.output_combo, 0, 3)
        grid.addWidget(self.refresh_button, 0, 4)
        grid.addWidget(QLabel("Rate"), 1, 0)
        grid.addWidget(self.rate_combo, 1, 1)
        grid.addWidget(QLabel("Block"), 1, 2)
        grid.addWidget(self.block_combo, 1, 3)
        grid.addWidget(self.channels_combo, 1, 4)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        controls = QHBoxLayout()
        for w in (self.start_button, self.stop_button, self.feed_button, self.bypass_check):
            controls.addWidget(w)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Dry/wet"))
        controls.addWidget(self.wet_slider, 1)
        controls.addWidget(self.wet_label)
        send = QHBoxLayout()
        send.addWidget(self.send_check)
        send.addWidget(self.send_label, 1)
        meters = QHBoxLayout()
        meters.addWidget(self.in_meter, 1)
        meters.addWidget(self.out_meter, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addLayout(controls)
        layout.addLayout(send)
        layout.addLayout(meters)
        layout.addWidget(self.stats_label)
        layout.addWidget(self.message)
        layout.addWidget(self.signals, 1)

        self.timer = QTimer(self, interval=TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.refresh_button.clicked.connect(lambda: self.refresh_devices(rescan=True))
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.feed_button.clicked.connect(self._choose_feed)
        self.bypass_check.toggled.connect(self._apply_mix)
        self.wet_slider.valueChanged.connect(self._apply_mix)
        self.send_check.toggled.connect(self._apply_send)
        self._apply_mix()
        self.refresh_devices()

    # --- devices --------------------------------------------------------------------------
    def refresh_devices(self, rescan: bool = False) -> None:
        """Fill the device pickers; with no devices, say so (the file feed still works)."""
        if rescan and self.running:
            return
        self.devices, problem = list_devices(rescan=rescan)
        default_in, default_out = default_devices() if not problem else (None, None)
        for combo, kind, default in ((self.input_combo, "max_inputs", default_in),
                                     (self.output_combo, "max_outputs", default_out)):
            combo.clear()
            for d in self.devices:
                if getattr(d, kind):
                    combo.addItem(d.label, d.index)
            if default is not None and combo.findData(default) >= 0:
                combo.setCurrentIndex(combo.findData(default))
        self.show_message(f"Live audio: {problem}. Feed a file to try the denoiser; the rest of the app works."
                          if problem else "")
        self._update_buttons()

    @property
    def has_devices(self) -> bool:
        return self.input_combo.count() > 0 and self.output_combo.count() > 0

    def select_devices(self, input_index: int, output_index: int) -> None:
        for combo, index in ((self.input_combo, input_index), (self.output_combo, output_index)):
            combo.setCurrentIndex(combo.findData(index))

    # --- model ----------------------------------------------------------------------------
    def set_model(self, model) -> None:
        """Use ``model`` from the next Start on; a running stream stops (its model changed)."""
        if self.running:
            self.stop()
            self.show_message("The model changed: press Start to denoise with the new one.")
        self.model = model
        if model is not None and self.rate_combo.findData(model.sample_rate) >= 0:
            self.rate_combo.setCurrentIndex(self.rate_combo.findData(model.sample_rate))
        if model is not None and not model.capabilities.streams:
            self.show_message(f"{model.name} looks ahead, so it cannot run live; train audio-dae for the live "
                              "view (the File tab works with any model).")
        self._update_buttons()

    # --- start / stop ---------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.source is not None

    def _new_engine(self, rate: int) -> LiveEngine | None:
        if self.model is None or not self.model.capabilities.streams:
            self.show_message("Open or train a streaming denoiser (audio-dae) first.")
            return None
        return LiveEngine(self.model, rate, self.block_combo.currentData(), self.channels_combo.currentData(),
                          monitor_s=VIEW_S)

    def start(self) -> bool:
        """Denoise the chosen input device into the chosen output device; False (and a message) if it fails."""
        if self.running or not self.has_devices:
            return False
        try:
            engine = self._new_engine(self.rate_combo.currentData())
            if engine is None:
                return False
            source = LiveStream(engine, self.input_combo.currentData(), self.output_combo.currentData()).start()
        except (AudioDeviceError, ValueError) as exc:
            self.show_message(str(exc))
            return False
        self._began(engine, source)
        return True

    def feed(self, wave: np.ndarray, rate: int, name: str = "a recording") -> bool:
        """Denoise a recording (C, T) live, at the model's rate, looping; no sound device needed."""
        if self.running or self.model is None:
            return False
        channels = self.channels_combo.currentData()
        engine = self._new_engine(self.model.sample_rate)
        if engine is None:
            return False
        wave = resample(match_channels(wave, channels), rate, self.model.sample_rate)
        self._began(engine, FileFeed(engine, wave).start())
        self.show_message(f"Feeding {name} into the denoiser (looping) instead of a microphone.")
        return True

    def _choose_feed(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Feed a recording into the live denoiser", "", AUDIO_FILTER)
        if path:
            self.feed_file(Path(path))

    def feed_file(self, path: Path) -> None:
        """Read ``path`` off the UI thread, then feed it."""
        task = Task(read_audio, path, parent=self)
        task.done.connect(lambda result: self.feed(*result, name=path.name))
        task.failed.connect(lambda message, _tb: self.show_message(message))
        task.start()

    def _began(self, engine: LiveEngine, source) -> None:
        self.engine, self.source = engine, source
        self._apply_mix()
        self.show_message("")
        self._apply_send()
        self.timer.start()
        self._update_buttons()

    def stop(self) -> None:
        if self.source is not None:
            self.source.stop()
        self.source = None
        self._close_send()
        self.timer.stop()
        self._update_buttons()

    # --- send to other apps ---------------------------------------------------------------
    def _apply_send(self) -> None:
        """Open or close the microphone for other apps, as the check box says (only while live runs)."""
        if not self.send_check.isChecked() or not self.running:
            self._close_send()
            return
        if self.mic is not None:
            return
        if isinstance(self.source, LiveStream) and "JACK" in self.output_combo.currentText():
            self.send_label.setText("JACK: connect this app's output ports (PortAudio:out_…) to the other app, "
                                    "e.g. in a patchbay")
            return
        engine, mic = self.engine, VirtualMic(self.engine.rate, self.engine.channels)
        self.send_label.setText("Making the microphone for other apps…")
        task = Task(mic.open, parent=self)
        task.done.connect(lambda opened: self._sending(engine, opened))
        task.failed.connect(lambda message, _tb: self.send_label.setText(f"Not sent to other apps: {message}"))
        task.start()

    def _sending(self, engine: LiveEngine, mic: VirtualMic) -> None:
        if engine is not self.engine or not self.running or not self.send_check.isChecked():
            mic.close()  # stopped (or unchecked) meanwhile
            return
        self.mic, engine.send = mic, mic.write
        self.send_label.setText(f"Other apps can pick the microphone “{MIC_NAME}”")

    def _close_send(self) -> None:
        if self.engine is not None:
            self.engine.send = None
        if self.mic is not None:
            self.mic.close()
            self.mic = None
        self.send_label.setText("")

    # --- the mix --------------------------------------------------------------------------
    def _apply_mix(self) -> None:
        self.wet_label.setText(f"{self.wet_slider.value()} %")
        if self.engine is not None:
            self.engine.wet = self.wet_slider.value() / 100.0
            self.engine.bypass = self.bypass_check.isChecked()

    # --- display --------------------------------------------------------------------------
    def _tick(self) -> None:
        if self.source is None or self.engine is None:
            return
        problem = self.source.problem
        if problem:
            self.stop()
            self.show_message(f"Live audio stopped: {problem}.")
        self.redraw()

    def redraw(self) -> None:
        """Meters, numbers and the scrolling views from the engine's latest state."""
        e = self.engine
        if e is None:
            return
        s = e.stats
        self.in_meter.set_level(s.in_peak)
        self.out_meter.set_level(s.out_peak)
        device_ms = self.source.device_latency_ms if self.source is not None else 0.0
        self.stats_label.setText(
            f"delay {e.latency_ms:.1f} ms (model {e.model_latency_ms:.0f} ms)"
            + (f" + device {device_ms:.1f} ms" if device_ms else "")
            + f"  ·  real-time factor {s.rtf:.3f} (slowest block {1000 * s.busy_max_s:.1f} ms of "
            f"{1000 * e.block / e.rate:.1f})  ·  dropouts {s.xruns}  ·  {s.blocks} blocks")
        self.signals.show_signals(e.monitor_in.latest(), e.monitor_out.latest(), e.model_rate)

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def _update_buttons(self) -> None:
        ready = self.model is not None and self.model.capabilities.streams and not self.running
        self.start_button.setEnabled(ready and self.has_devices)
        self.start_button.setToolTip("" if self.has_devices else "No sound devices found")
        self.feed_button.setEnabled(ready)
        self.stop_button.setEnabled(self.running)
        for w in (self.input_combo, self.output_combo, self.refresh_button, self.rate_combo, self.block_combo,
                  self.channels_combo):
            w.setEnabled(not self.running)
