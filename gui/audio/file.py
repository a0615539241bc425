"""The file view of ``FileSession`` (``core.sessions.audio_file``): open a recording, denoise it off the UI thread
with a progress bar, compare the spectrograms before and after, play either one (on the Live tab's output
device, at a rate it takes), save the result. Widgets only."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from core.sessions.audio import AudioSession
from core.sessions.listeners import weakly

from ..background.works import start_job, start_work
from .live import AUDIO_FILTER
from .views import SignalPair

BEFORE_AFTER_HINTS = ("no audio yet — Open… a recording", "no audio yet — Denoise the recording")


class FileView(QWidget):
    def __init__(self, session: AudioSession, parent: QWidget | None = None):
        super().__init__(parent)
        self.audio = session
        self.session = session.file
        self._job = None

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
        self.info = QLabel()
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

        self.open_button.clicked.connect(self._choose_file)
        self.denoise_button.clicked.connect(self.denoise)
        self.cancel_button.clicked.connect(self.cancel)
        self.play_original_button.clicked.connect(lambda: self.session.play("before"))
        self.play_result_button.clicked.connect(lambda: self.session.play("after"))
        self.stop_button.clicked.connect(self.session.stop_playback)
        self.save_button.clicked.connect(self._choose_target)
        session.listen(weakly(self._on_session))
        self._show()

    # --- actions --------------------------------------------------------------------------
    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a recording", "", AUDIO_FILTER)
        if path:
            self.open(Path(path))

    def open(self, path: Path) -> None:
        start_work(self.session.open(path), self, applied=lambda _r: self._opened(),
                   failed=lambda message, _tb: self.session.failed("Could not open it", message))

    def _opened(self) -> None:
        self.progress.setValue(0)
        s = self.session
        self.signals.show_signals(s.original[0], s.original[0][:0], s.rate)

    def denoise(self) -> None:
        work = self.session.denoise()
        if work is None:
            return
        self.progress.setValue(0)
        self._job = start_job(work, self, applied=lambda _r: self._denoised(), failed=self._failed)
        self._job.progress.connect(lambda fraction, _text: self.progress.setValue(round(1000 * max(0.0, fraction))))
        self._job.cancelled.connect(self._cancelled)

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def _denoised(self) -> None:
        self._job = None
        self.progress.setValue(1000)
        s = self.session
        self.signals.show_signals(s.original[0], s.result[0], s.rate)

    def _failed(self, message: str, _tb: str) -> None:
        self._job = None
        self.progress.setValue(0)
        self.session.failed("Not denoised", message)

    def _cancelled(self) -> None:
        self._job = None
        self.progress.setValue(0)
        self.session.cancelled()

    def _choose_target(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the denoised recording", self.session.suggested_target(),
                                              AUDIO_FILTER)
        if path:
            self.save(Path(path))

    def save(self, path: Path) -> None:
        work = self.session.save(path)
        if work is not None:
            start_work(work, self, applied=lambda _r: None,
                       failed=lambda message, _tb: self.session.failed("Not saved", message))

    # --- the session's changes ------------------------------------------------------------
    def _on_session(self, what: str) -> None:
        if what in ("file", "model", "devices", "live"):
            self._show()

    def _show(self) -> None:
        s = self.session
        self.info.setText(s.info)
        has_output = s.can_play
        self.denoise_button.setEnabled(s.can_denoise)
        self.denoise_button.setToolTip("" if self.audio.model is not None else "Open or train a denoiser first")
        self.cancel_button.setEnabled(s.busy)
        self.open_button.setEnabled(not s.busy)
        self.play_original_button.setEnabled(s.original is not None and has_output)
        self.play_result_button.setEnabled(s.result is not None and has_output)
        self.stop_button.setEnabled(has_output)
        self.save_button.setEnabled(s.result is not None and not s.busy)

    # --- shortcuts for tests --------------------------------------------------------------
    @property
    def original(self):
        return self.session.original

    @property
    def result(self):
        return self.session.result
