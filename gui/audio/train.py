"""The train view: a speech folder, a noise folder and/or built-in noises, a few settings, Train.

The run goes through the main window's ``TrainingBridge``, so the Training panel shows its loss and
SI-SDR curves live; this view shows a one-line summary and hands the finished model to the panel.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from core.audio.dataset import MixConfig
from core.runs.audio_demo import SHARED_NOISE, SHARED_SPEECH
from core.audio.noise import BUILTIN_NOISES
from core.audio.trainer import AUDIO_TRAIN_DEFAULTS, AudioRun
from core.runs.recipe import audio_run, train_config
from core.errors import LatentExplorerError
from models import family, names

from ..bridge import TrainingBridge
from ..settings import new_run_dir

RUN_ENDS = ("finished", "stopped")  # an "error" state is followed by the error message


class TrainView(QWidget):
    trained = Signal(str)  # checkpoint path of a run this view started, once it ended

    def __init__(self, bridge: TrainingBridge, parent: QWidget | None = None):
        super().__init__(parent)
        self.bridge = bridge
        self.run: AudioRun | None = None
        self._checkpoint = ""

        self.speech_edit = QLineEdit(str(SHARED_SPEECH) if SHARED_SPEECH.is_dir() else "")
        self.noise_edit = QLineEdit(str(SHARED_NOISE) if SHARED_NOISE.is_dir() else "")
        self.speech_edit.setPlaceholderText("folder of clean speech (wav, flac)")
        self.noise_edit.setPlaceholderText("folder of noise recordings (optional)")
        self.builtin = {kind: QCheckBox(kind) for kind in BUILTIN_NOISES}
        for check in self.builtin.values():
            check.setChecked(True)
        self.snr_min, self.snr_max = QDoubleSpinBox(), QDoubleSpinBox()
        for spin, value in ((self.snr_min, MixConfig.snr_db[0]), (self.snr_max, MixConfig.snr_db[1])):
            spin.setRange(-30, 50)
            spin.setSuffix(" dB")
            spin.setValue(value)
        self.model_combo = QComboBox()
        for name in names("audio"):
            what = "streams live" if family(name).capabilities.streams else "offline only (the lecture's model)"
            self.model_combo.addItem(f"{name} — {what}", name)
        self.epochs, self.batch = QSpinBox(), QSpinBox()
        self.epochs.setRange(1, 10_000)
        self.epochs.setValue(AUDIO_TRAIN_DEFAULTS["epochs"])
        self.batch.setRange(1, 1024)
        self.batch.setValue(AUDIO_TRAIN_DEFAULTS["batch_size"])
        self.train_button = QPushButton("Train")
        self.status = QLabel("Curves appear in the Training panel while it trains.")
        self.status.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Speech", self._with_browse(self.speech_edit, "Folder of clean speech"))
        form.addRow("Noise", self._with_browse(self.noise_edit, "Folder of noise recordings"))
        checks = QHBoxLayout()
        for check in self.builtin.values():
            checks.addWidget(check)
        checks.addStretch(1)
        form.addRow("Built-in noise", checks)
        snr = QHBoxLayout()
        snr.addWidget(self.snr_min)
        snr.addWidget(QLabel("to"))
        snr.addWidget(self.snr_max)
        snr.addStretch(1)
        form.addRow("SNR", snr)
        form.addRow("Model", self.model_combo)
        form.addRow("Epochs", self.epochs)
        form.addRow("Batch", self.batch)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.train_button)
        layout.addWidget(self.status)
        layout.addStretch(1)

        self.train_button.clicked.connect(self.train)
        bridge.metrics.connect(self._on_metrics)
        bridge.checkpoint_saved.connect(self._on_checkpoint)
        bridge.state_changed.connect(self._on_state)
        bridge.error.connect(self._on_error)

    def _with_browse(self, edit: QLineEdit, title: str) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        button = QPushButton("…")
        button.setFixedWidth(28)
        button.clicked.connect(lambda: edit.setText(QFileDialog.getExistingDirectory(self, title, edit.text())
                                                    or edit.text()))
        row.addWidget(button)
        return box

    def build_run(self) -> AudioRun:
        speech = self.speech_edit.text().strip()
        if not speech:
            raise LatentExplorerError("choose a folder of clean speech")
        noise = self.noise_edit.text().strip()
        mix = MixConfig(snr_db=(self.snr_min.value(), self.snr_max.value()),
                        builtin=tuple(k for k, c in self.builtin.items() if c.isChecked()))
        if mix.snr_db[0] > mix.snr_db[1]:
            raise LatentExplorerError("the lowest SNR is above the highest")
        if not noise and not mix.builtin:
            raise LatentExplorerError("choose a noise folder or at least one built-in noise")
        name = self.model_combo.currentData()
        config = train_config(name, epochs=self.epochs.value(), batch_size=self.batch.value())
        return audio_run(name, {}, Path(speech), Path(noise) if noise else None, mix, config,
                         new_run_dir(name, speech))

    def train(self) -> bool:
        """Start a run (the folders are read by the worker: a bad folder ends it with a clear error)."""
        if self.bridge.busy:
            self.status.setText("Another training run is going; stop it first (Training panel).")
            return False
        try:
            run = self.build_run()
        except LatentExplorerError as exc:
            self.status.setText(str(exc))
            return False
        self.run, self._checkpoint = run, ""
        self.bridge.start(run)
        self.status.setText(f"Training {run.model_name} on {run.speech_dir.name} → {run.out_dir} "
                            "(live curves in the Training panel)")
        self._update_buttons()
        return True

    def _on_metrics(self, row: dict) -> None:
        if self.run is not None and row.get("split") == "val" and "sisdr_improvement" in row:
            self.status.setText(f"epoch {row['epoch']:.0f}: held-out SI-SDR {row['sisdr']:.1f} dB, "
                                f"{row['sisdr_improvement']:+.1f} dB over the noisy input")

    def _on_error(self, message: str, _tb: str) -> None:
        if self.run is not None:
            self.run = None
            self.status.setText(f"Training failed: {message}")

    def _on_checkpoint(self, path: str) -> None:
        if self.run is not None:
            self._checkpoint = path

    def _on_state(self, state: str) -> None:
        if self.run is not None and state in RUN_ENDS:
            self.run = None
            if self._checkpoint:
                self.trained.emit(self._checkpoint)
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.train_button.setEnabled(self.bridge.state not in ("running", "paused"))
