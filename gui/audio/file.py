"""The file view: open a recording, denoise it off the UI thread with a progress bar, compare the
spectrograms before and after, play either one, save the result."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from core.audio.devices import play, stop_playback
from core.audio.io import read_audio, write_audio
from core.audio.offline import denoise_recording
from core.errors import AudioDeviceError

from ..background.tasks import Task, on_ui_thread
from .live import AUDIO_FILTER
from .views import SignalPair

POLL_MS = 100
BEFORE_AFTER_HINTS = ("no audio yet — Open… a recording", "no audio yet — Denoise the recording")


class FileView(QWidget):
    def __init__(self, output_device=lambda: None, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = None
        self.output_device = output_device  # () -> device index for playback, or None
        self.path: Path | None = None
        self.original: np.ndarray | None = None
        self.result: np.ndarray | None = None
        self.rate = 0
        self._progress, self._cancel, self._busy = 0.0, threading.Event(), False

        self.open_button = QPushButton("Open…")
        self.denoise_button = QPushButton("Denoise")
        self.cancel_button = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.play_original_button = QPushButton("▶ Before")
        self.play_result_button = QPushButton("▶ After")
        self.stop_button = QPushButton("■")
        self.stop_button.setToolTip("Stop playback")
        self.save_button = QPushButton("Save…")
        self.info = QLabel("Open a recording (WAV, FLAC, OGG) to denoise it.")
        self.info.setWordWrap(True)
        self.signals = SignalPair(("Before", "After"), BEFORE_AFTER_HINTS)

        row = QHBoxLayout()
        for w in (self.open_button, self.denoise_button, self.cancel_button):
            row.addWidget(w)
        row.addWidget(self.progress, 1)
        for w in (self.play_original_button, self.play_result_button, self.stop_button, self.save_button):
            row.addWidget(w)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.info)
        layout.addWidget(self.signals, 1)

        self.timer = QTimer(self, interval=POLL_MS)
        self.timer.timeout.connect(lambda: self.progress.setValue(round(1000 * self._progress)))
        self.open_button.clicked.connect(self._choose_file)
        self.denoise_button.clicked.connect(self.denoise)
        self.cancel_button.clicked.connect(self.cancel)
        self.play_original_button.clicked.connect(lambda: self.play(self.original))
        self.play_result_button.clicked.connect(lambda: self.play(self.result))
        self.stop_button.clicked.connect(lambda: stop_playback())
        self.save_button.clicked.connect(self._choose_target)
        self._update_buttons()

    def set_model(self, model) -> None:
        self.model = model
        self._update_buttons()

    # --- open -----------------------------------------------------------------------------
    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a recording", "", AUDIO_FILTER)
        if path:
            self.open(Path(path))

    def open(self, path: Path) -> None:
        """Read ``path`` off the UI thread; a file that cannot be read leaves the view as it was."""
        self.info.setText(f"Reading {path}…")
        task = Task(read_audio, path, parent=self)
        task.done.connect(lambda result: self._opened(path, *result))
        task.failed.connect(lambda message, _tb: self.info.setText(f"Could not open it: {message}"))
        task.start()

    def _opened(self, path: Path, wave: np.ndarray, rate: int) -> None:
        self.path, self.original, self.rate, self.result = path, wave, rate, None
        self.progress.setValue(0)
        self.info.setText(f"{path.name}: {wave.shape[1] / rate:.1f} s, {rate} Hz, "
                          f"{'mono' if wave.shape[0] == 1 else f'{wave.shape[0]} channels'}")
        self.signals.show_signals(wave[0], np.zeros(0, np.float32), rate)
        self._update_buttons()

    # --- denoise --------------------------------------------------------------------------
    def denoise(self) -> None:
        if self.model is None or self.original is None or self._busy:
            return
        self._busy, self._cancel, self._progress = True, threading.Event(), 0.0
        task = Task(denoise_recording, self.model, self.original, self.rate, on_ui_thread(self._set_progress),
                    self._cancel.is_set, parent=self)
        task.done.connect(self._denoised)
        task.failed.connect(self._failed)
        task.start()
        self.timer.start()
        self._update_buttons()

    def _set_progress(self, fraction: float) -> None:
        self._progress = fraction

    def cancel(self) -> None:
        self._cancel.set()

    def _denoised(self, result: np.ndarray) -> None:
        self._busy, self.result = False, result
        self.timer.stop()
        self.progress.setValue(1000)
        self.signals.show_signals(self.original[0], result[0], self.rate)
        self._update_buttons()

    def _failed(self, message: str, _tb: str) -> None:
        self._busy = False
        self.timer.stop()
        self.progress.setValue(0)
        self.info.setText(f"Not denoised: {message}")
        self._update_buttons()

    # --- play / save ----------------------------------------------------------------------
    def play(self, wave: np.ndarray | None) -> None:
        if wave is None:
            return
        try:
            play(wave, self.rate, self.output_device())
        except AudioDeviceError as exc:
            self.info.setText(str(exc))

    def _choose_target(self) -> None:
        suggestion = str(self.path.with_name(f"{self.path.stem}_denoised.wav")) if self.path else "denoised.wav"
        path, _ = QFileDialog.getSaveFileName(self, "Save the denoised recording", suggestion, AUDIO_FILTER)
        if path:
            self.save(Path(path))

    def save(self, path: Path) -> None:
        if self.result is None:
            return
        task = Task(write_audio, path, self.result, self.rate, parent=self)
        task.done.connect(lambda saved: self.info.setText(f"Saved {saved}"))
        task.failed.connect(lambda message, _tb: self.info.setText(f"Not saved: {message}"))
        task.start()

    def _update_buttons(self) -> None:
        has_output = self.output_device() is not None
        self.denoise_button.setEnabled(self.model is not None and self.original is not None and not self._busy)
        self.denoise_button.setToolTip("" if self.model is not None else "Open or train a denoiser first")
        self.cancel_button.setEnabled(self._busy)
        self.open_button.setEnabled(not self._busy)
        self.play_original_button.setEnabled(self.original is not None and has_output)
        self.play_result_button.setEnabled(self.result is not None and has_output)
        self.stop_button.setEnabled(has_output)
        self.save_button.setEnabled(self.result is not None and not self._busy)
