"""The live view of ``AudioSession`` (``core.sessions.audio``): device pickers, the live config (rate, block,
channels), Start / Stop / Feed a file…, bypass and dry/wet, send to other apps, meters, numbers and the scrolling
views. Widgets only: every action is a session call; a timer redraws from the engine's monitors and lets the
session notice a stream that died.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QPushButton,
                               QSlider, QVBoxLayout, QWidget)

from core.audio.virtual_mic import MIC_NAME
from core.sessions.audio import AudioSession
from core.sessions.listeners import weakly

from ..background.works import start_work
from .views import LevelMeter, SignalPair

TICK_MS = 50
LIVE_HINT = "no audio yet — press Start, or Feed a file…"
AUDIO_FILTER = "Audio (*.wav *.flac *.ogg *.aiff *.aif);;All files (*)"


def fill(combo: QComboBox, items: list[tuple[str, object]], current: object) -> None:
    """Replace ``combo``'s items (text, data) without signals, selecting ``current``."""
    combo.blockSignals(True)
    combo.clear()
    for text, data in items:
        combo.addItem(text, data)
    combo.setCurrentIndex(combo.findData(current))
    combo.blockSignals(False)


class LiveView(QWidget):
    def __init__(self, session: AudioSession | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session or AudioSession()

        self.input_combo, self.output_combo = QComboBox(), QComboBox()
        self.input_combo.setPlaceholderText("no input device")
        self.output_combo.setPlaceholderText("no output device")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Look for sound devices again (e.g. after plugging one in)")
        self.rate_combo, self.block_combo, self.channels_combo = QComboBox(), QComboBox(), QComboBox()
        self.rate_combo.setToolTip("The sound card's rate: it follows the chosen devices (the model's own rate is "
                                   "reached by resampling)")
        self.block_combo.setToolTip("Frames per audio callback: smaller is less delay, larger is more robust")
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
        self.signals = SignalPair(("Input (noisy)", "Output (denoised)"), (LIVE_HINT, LIVE_HINT))

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
        self.refresh_button.clicked.connect(lambda: self.session.refresh(rescan=True))
        self.input_combo.activated.connect(self._devices_chosen)
        self.output_combo.activated.connect(self._devices_chosen)
        self.rate_combo.activated.connect(lambda _i: self.session.set_rate(self.rate_combo.currentData()))
        self.block_combo.activated.connect(lambda _i: self.session.set_block(self.block_combo.currentData()))
        self.channels_combo.activated.connect(lambda _i: self.session.set_channels(self.channels_combo.currentData()))
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.session.stop)
        self.feed_button.clicked.connect(self._choose_feed)
        self.bypass_check.toggled.connect(self._mix_changed)
        self.wet_slider.valueChanged.connect(self._mix_changed)
        self.send_check.toggled.connect(self._send_changed)
        self.session.listen(weakly(self._on_session))
        if not self.session.looked:
            self.session.refresh()
        self._mix_changed()
        self._show_devices()
        self._show_config()
        self._show_message()
        self._update_buttons()

    # --- actions --------------------------------------------------------------------------
    def _devices_chosen(self, _index: int = 0) -> None:
        self.session.choose_devices(self.input_combo.currentData(), self.output_combo.currentData())

    def start(self) -> bool:
        return self.session.start()

    def _choose_feed(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Feed a recording into the live denoiser", "", AUDIO_FILTER)
        if path:
            self.feed_file(Path(path))

    def feed_file(self, path: Path) -> None:
        start_work(self.session.feed_file(path), self, applied=lambda _fed: None,
                   failed=lambda message, _tb: self.session.say(message))

    def _mix_changed(self) -> None:
        self.wet_label.setText(f"{self.wet_slider.value()} %")
        self.session.set_mix(self.wet_slider.value() / 100.0, self.bypass_check.isChecked())

    def _send_changed(self, wanted: bool) -> None:
        self._run_send(self.session.set_send(wanted))

    def _run_send(self, work) -> None:
        if work is not None:
            start_work(work, self, applied=lambda _r: None,
                       failed=lambda message, _tb: self.session.send_failed(message))

    # --- the session's changes ------------------------------------------------------------
    def _on_session(self, what: str) -> None:
        if what == "devices":
            self._show_devices()
            self._show_config()
        elif what == "config":
            self._show_config()
        elif what == "message":
            self._show_message()
        elif what == "send":
            self.send_label.setText(self.session.send_text)
        elif what == "live":
            if self.session.running:
                self.timer.start()
                self._run_send(self.session.send_work())
            else:
                self.timer.stop()
        self._update_buttons()

    def _show_devices(self) -> None:
        s = self.session
        fill(self.input_combo, [(d.label, d.index) for d in s.inputs()], s.input)
        fill(self.output_combo, [(d.label, d.index) for d in s.outputs()], s.output)

    def _show_config(self) -> None:
        s, c = self.session, self.session.config
        fill(self.rate_combo, [(f"{r} Hz", r) for r in s.rates()], c.rate)
        fill(self.block_combo, [(f"{b} ({1000 * b / c.rate:.1f} ms)", b) for b in s.blocks()], c.block)
        fill(self.channels_combo, [("mono", 1), ("stereo", 2)], c.channels)

    def _show_message(self) -> None:
        self.message.setText(self.session.message)
        self.message.setVisible(bool(self.session.message))

    def _tick(self) -> None:
        self.session.poll()
        self.redraw()

    def redraw(self) -> None:
        """Meters, numbers and the scrolling views from the engine's latest state."""
        e = self.session.engine
        if e is None:
            return
        self.in_meter.set_level(e.stats.in_peak)
        self.out_meter.set_level(e.stats.out_peak)
        self.stats_label.setText(self.session.stats_text())
        self.signals.show_signals(e.monitor_in.latest(), e.monitor_out.latest(), e.model_rate)

    def _update_buttons(self) -> None:
        s = self.session
        self.start_button.setEnabled(s.can_run and s.has_devices)
        self.start_button.setToolTip("" if s.has_devices else "No sound devices found")
        self.feed_button.setEnabled(s.can_run)
        self.stop_button.setEnabled(s.running)
        for w in (self.input_combo, self.output_combo, self.refresh_button, self.rate_combo, self.block_combo,
                  self.channels_combo):
            w.setEnabled(not s.running)

    # --- shortcuts for tests and the panel ------------------------------------------------
    @property
    def running(self) -> bool:
        return self.session.running

    @property
    def engine(self):
        return self.session.engine

    @property
    def has_devices(self) -> bool:
        return self.session.has_devices
