"""The train view of ``AudioTrainSession`` (``core.sessions.audio_train``). Two boxes:

- **Train a denoiser**: the chosen audio family's declared settings (the same fields as the Setup form), the
  speech and noise folders, built-in noises, the SNR range, epochs and batch; Train.
- **Learn my voice**: record your voice from the Live tab's input (a level meter and a timer) or add files,
  fine-tune the model in use on it (progress, Stop), then the before/after score on the held-out part of the
  recordings; the fine-tuned model becomes the live one.

Runs go through the main window's ``TrainingBridge``, so the Training panel shows their curves live.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton, QSpinBox, QVBoxLayout,
                               QWidget)

from core.audio.noise import BUILTIN_NOISES
from core.errors import LatentExplorerError
from core.sessions.audio import AudioSession
from core.sessions.listeners import weakly

from ..background.works import start_work
from ..bridge import TrainingBridge
from ..number_field import mark
from ..settings import new_run_dir
from ..setup_panel import _Field as SettingField
from .live import AUDIO_FILTER
from .views import LevelMeter

RUN_ENDS = ("finished", "stopped")  # an "error" state is followed by the error message
TICK_MS = 100


class TrainView(QWidget):
    trained = Signal(str)  # checkpoint path of a training run this view started, once it ended

    def __init__(self, session: AudioSession, bridge: TrainingBridge, parent: QWidget | None = None):
        super().__init__(parent)
        self.audio, self.session, self.bridge = session, session.train, bridge
        self.run = None
        self.kind = ""  # "train" or "voice": what the running run is
        self._checkpoint = ""

        # --- train a denoiser
        self.model_combo = QComboBox()
        for name, text in self.session.families():
            self.model_combo.addItem(text, name)
        self.fields: dict[str, SettingField] = {}  # the chosen family's: setting -> field
        self.speech_edit, self.noise_edit = QLineEdit(self.session.speech), QLineEdit(self.session.noise)
        self.speech_edit.setPlaceholderText("folder of clean speech (wav, flac)")
        self.noise_edit.setPlaceholderText("folder of noise recordings (optional)")
        self.builtin = {kind: QCheckBox(kind) for kind in BUILTIN_NOISES}
        for kind, check in self.builtin.items():
            check.setChecked(kind in self.session.builtin)
        self.snr_min, self.snr_max = QDoubleSpinBox(), QDoubleSpinBox()
        for spin, value in zip((self.snr_min, self.snr_max), self.session.snr_db):
            spin.setRange(-30, 50)
            spin.setSuffix(" dB")
            spin.setValue(value)
        self.epochs, self.batch = QSpinBox(), QSpinBox()
        self.epochs.setRange(1, 10_000)
        self.epochs.setValue(self.session.epochs)
        self.batch.setRange(1, 1024)
        self.batch.setValue(self.session.batch_size)
        self.train_button = QPushButton("Train")
        self.status = QLabel("Curves appear in the Training panel while it trains.")
        self.status.setWordWrap(True)
        self.form = QFormLayout()
        self._fill_form()

        # --- learn my voice
        self.record_button = QPushButton("● Record")
        self.record_button.setToolTip("Record your voice from the Live tab's input device; press again to stop")
        self.add_button = QPushButton("Add files…")
        self.clear_button = QPushButton("Clear")
        self.level = LevelMeter("Level")
        self.timer_label = QLabel("0:00")
        self.finetune_button = QPushButton("Fine-tune on my voice")
        self.stop_button = QPushButton("Stop")
        self.progress = QProgressBar()
        self.progress.setFormat("epoch %v of %m")
        self.voice_status = QLabel()
        self.voice_status.setWordWrap(True)
        self.score_label = QLabel()
        self.score_label.setStyleSheet("font-size: 15px;")
        voice = QGroupBox("Learn my voice")
        rows = QVBoxLayout(voice)
        record = QHBoxLayout()
        for w in (self.record_button, self.add_button, self.clear_button):
            record.addWidget(w)
        record.addWidget(self.level, 1)
        record.addWidget(self.timer_label)
        tune = QHBoxLayout()
        tune.addWidget(self.finetune_button)
        tune.addWidget(self.stop_button)
        tune.addWidget(self.progress, 1)
        rows.addLayout(record)
        rows.addLayout(tune)
        rows.addWidget(self.voice_status)
        rows.addWidget(self.score_label)

        train_box = QGroupBox("Train a denoiser")
        train_rows = QVBoxLayout(train_box)
        train_rows.addLayout(self.form)
        train_rows.addWidget(self.train_button)
        train_rows.addWidget(self.status)
        layout = QVBoxLayout(self)
        layout.addWidget(voice)
        layout.addWidget(train_box)
        layout.addStretch(1)

        self.clock = QTimer(self, interval=TICK_MS)
        self.clock.timeout.connect(self._tick)
        self.model_combo.activated.connect(lambda _i: self.session.set_family(self.model_combo.currentData()))
        self.speech_edit.textChanged.connect(lambda text: self._set("speech", text))
        self.noise_edit.textChanged.connect(lambda text: self._set("noise", text))
        for kind, check in self.builtin.items():
            check.toggled.connect(lambda on, k=kind: self._set("builtin", self.session.builtin | {k} if on else
                                                               self.session.builtin - {k}))
        for spin in (self.snr_min, self.snr_max):
            spin.valueChanged.connect(lambda _v: self._set("snr_db", (self.snr_min.value(), self.snr_max.value())))
        self.epochs.valueChanged.connect(lambda v: self._set("epochs", v))
        self.batch.valueChanged.connect(lambda v: self._set("batch_size", v))
        self.train_button.clicked.connect(self.train)
        self.record_button.clicked.connect(self._record_clicked)
        self.add_button.clicked.connect(self._add_files)
        self.clear_button.clicked.connect(self.session.clear_recordings)
        self.finetune_button.clicked.connect(self.finetune)
        self.stop_button.clicked.connect(lambda: self.bridge.stop())
        bridge.metrics.connect(self._on_metrics)
        bridge.checkpoint_saved.connect(self._on_checkpoint)
        bridge.state_changed.connect(self._on_state)
        bridge.error.connect(self._on_error)
        session.listen(weakly(self._on_session))
        self._update()

    # --- the form -------------------------------------------------------------------------
    def _fill_form(self) -> None:
        """The model row, the rows of every audio family's declared settings (the chosen family's shown), then the
        data rows. Rows are made once and shown or hidden, never removed: a removed row's layout item dies in C++
        while PySide may still hold a wrapper of it, and a later object at its address came back as that stale
        wrapper (the seeded monkey: 'QWidgetItem' object has no attribute 'setEnabled', and a segfault)."""
        self.form.addRow("Model", self.model_combo)
        self.family_fields: dict[str, dict[str, SettingField]] = {}
        for name, _text in self.session.families():
            fields = self.family_fields[name] = {}
            for spec in self.session.specs(name):
                field = fields[spec.name] = SettingField(spec)
                field.connect(lambda value, setting=spec.name: self.session.set_value(setting, value))
                self.form.addRow(spec.label, field.widget)
        self._show_settings()
        self.form.addRow("Speech", self._with_browse(self.speech_edit, "Folder of clean speech"))
        self.form.addRow("Noise", self._with_browse(self.noise_edit, "Folder of noise recordings"))
        checks = QHBoxLayout()
        for check in self.builtin.values():
            checks.addWidget(check)
        checks.addStretch(1)
        self.form.addRow("Built-in noise", checks)
        snr = QHBoxLayout()
        snr.addWidget(self.snr_min)
        snr.addWidget(QLabel("to"))
        snr.addWidget(self.snr_max)
        snr.addStretch(1)
        self.form.addRow("SNR", snr)
        self.form.addRow("Epochs", self.epochs)
        self.form.addRow("Batch", self.batch)

    def _show_settings(self) -> None:
        """Show the chosen family's setting rows, with the session's values, and hide the others'."""
        self.fields = self.family_fields[self.session.family]
        for fields in self.family_fields.values():
            for field in fields.values():
                self.form.setRowVisible(field.widget, fields is self.fields)
        for name, field in self.fields.items():
            field.set_raw(self.session.value(name))

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

    def _set(self, name: str, value) -> None:
        setattr(self.session, name, value)
        self._update()

    # --- train ----------------------------------------------------------------------------
    def train(self) -> bool:
        """Start a run (the folders are read by the worker: a bad folder ends it with a clear error)."""
        if self.bridge.busy:
            self.status.setText("Another training run is going; stop it first (Training panel).")
            return False
        try:
            run = self.session.build_run(new_run_dir(self.session.family, self.session.speech))
        except LatentExplorerError as exc:
            self.status.setText(str(exc))
            return False
        self._start(run, "train")
        self.status.setText(f"Training {run.model_name} on {run.speech_dir.name} → {run.out_dir} "
                            "(live curves in the Training panel)")
        return True

    def _start(self, run, kind: str) -> None:
        self.run, self.kind, self._checkpoint = run, kind, ""
        self.progress.setRange(0, run.config.epochs)
        self.progress.setValue(0)
        self.bridge.start(run)
        self._update()

    # --- learn my voice -------------------------------------------------------------------
    def _record_clicked(self) -> None:
        if self.session.recording:
            self.clock.stop()
            self.session.stop_recording(new_run_dir("voice", "recording").with_name("voice-recordings"))
        elif self.session.start_recording():
            self.clock.start()
        self._update()

    def _tick(self) -> None:
        recorder = self.session.recorder
        if recorder is None:
            return
        self.level.set_level(recorder.level)
        seconds = int(recorder.seconds)
        self.timer_label.setText(f"{seconds // 60}:{seconds % 60:02d}")

    def _add_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Recordings of your voice", "", AUDIO_FILTER)
        if paths:
            self.session.add_recordings([Path(p) for p in paths])

    def finetune(self) -> bool:
        if self.bridge.busy:
            self.voice_status.setText("Another training run is going; stop it first (Training panel).")
            return False
        try:
            work = self.session.finetune(new_run_dir(self.audio.model.name, "my-voice"))
        except LatentExplorerError as exc:
            self.voice_status.setText(str(exc))
            return False
        self.score_label.setText("")
        start_work(work, self, applied=lambda run: self._start(run, "voice"),
                   failed=lambda message, _tb: self.voice_status.setText(f"Could not prepare the recordings: {message}"))
        return True

    # --- the run's events -----------------------------------------------------------------
    def _on_metrics(self, row: dict) -> None:
        if self.run is None:
            return
        self.progress.setValue(int(row.get("epoch", 0)))
        if self.kind == "train" and row.get("split") == "val" and "sisdr_improvement" in row:
            self.status.setText(f"epoch {row['epoch']:.0f}: held-out SI-SDR {row['sisdr']:.1f} dB, "
                                f"{row['sisdr_improvement']:+.1f} dB over the noisy input")

    def _on_error(self, message: str, _tb: str) -> None:
        if self.run is not None:
            self.run = None
            (self.status if self.kind == "train" else self.voice_status).setText(f"Training failed: {message}")
            self._update()

    def _on_checkpoint(self, path: str) -> None:
        if self.run is not None:
            self._checkpoint = path

    def _on_state(self, state: str) -> None:
        if self.run is not None and state in RUN_ENDS:
            self.run = None
            if self._checkpoint and self.kind == "train":
                self.trained.emit(self._checkpoint)
            elif self._checkpoint:
                start_work(self.session.score(Path(self._checkpoint)), self, applied=lambda _r: self._update(),
                           failed=lambda message, _tb: self.voice_status.setText(f"Could not score it: {message}"))
        self._update()

    # --- the session's changes ------------------------------------------------------------
    def _on_session(self, what: str) -> None:
        if what == "family":
            self._show_settings()
        if what in ("family", "train", "voice", "model", "devices", "live"):
            self._update()

    def _update(self) -> None:
        s = self.session
        problems = s.problems()
        idle = self.bridge.state not in ("running", "paused") and self.run is None
        self.train_button.setEnabled(idle and not problems)
        self.train_button.setToolTip("\n".join(problems.values()))
        for name, field in self.fields.items():
            mark(field.widget, problems.get(name, ""))  # (as the Setup form: framed, the problem in its tooltip)
        self.voice_status.setText(s.voice_text)
        self.record_button.setText("■ Stop recording" if s.recording else "● Record")
        self.record_button.setEnabled(s.recording or (self.audio.input is not None and not self.audio.running))
        self.finetune_button.setEnabled(idle and not s.finetune_problem() and not s.recording)
        self.finetune_button.setToolTip(s.finetune_problem())
        self.stop_button.setEnabled(self.run is not None and self.kind == "voice")
        if s.scores is not None:
            before, after = s.scores
            self.score_label.setText(f"Your voice, held out, in noise: <b>{before:+.1f} dB</b> before → "
                                     f"<b>{after:+.1f} dB</b> after (SI-SDR improvement)")
