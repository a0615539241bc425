"""Audio panel: the live denoiser. Talk into the microphone and hear the cleaned voice; denoise a file; train a
denoiser or teach the model in use your voice.

A view of one ``AudioSession`` (``core.sessions.audio``), which holds the panel's own audio model (the shared
context holds image models): the shipped denoiser at first launch, or one opened here, by File ▸ Open
checkpoint, or from a run started in its Train tab. Tabs: Live (``gui.audio.live``), File (``gui.audio.file``),
Train (``gui.audio.train``).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QTabWidget, QVBoxLayout, QWidget

from core.sessions.audio import AudioSession
from core.sessions.listeners import weakly

from ..background.works import start_work
from ..bridge import TrainingBridge
from ..context import AppContext
from ..vertical_scroll import VerticalScroll
from .file import FileView
from .live import LiveView
from .train import TrainView

CHECKPOINT_FILTER = "Checkpoints (*.pt);;All files (*)"


class AudioPanel(QWidget):
    def __init__(self, context: AppContext, bridge: TrainingBridge, parent: QWidget | None = None,
                 session: AudioSession | None = None, first_launch: bool = True):
        super().__init__(parent)
        self.context = context
        self.session = session or AudioSession()

        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.open_button = QPushButton("Open model…")
        self.open_button.setToolTip("Open a denoiser checkpoint (checkpoint.pt of an audio-dae run)")
        self.live = LiveView(self.session)
        self.file = FileView(self.session)
        self.train = TrainView(self.session, bridge)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.live, "Live")
        self.tabs.addTab(self.file, "File")
        self.tabs.addTab(self.train, "Train")
        top = QHBoxLayout()
        top.addWidget(self.model_label, 1)
        top.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(VerticalScroll(self.tabs), 1)  # on a short screen the tabs scroll (the window fits it)

        self.open_button.clicked.connect(self._choose_model)
        self.train.trained.connect(self.open_model)
        self.session.listen(weakly(self._on_session))
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._on_session("model")
        shipped = self.session.first_launch() if first_launch else None
        if shipped is not None:
            self._run_open(shipped)

    @property
    def model(self):
        return self.session.model

    @property
    def checkpoint_path(self) -> Path | None:
        return self.session.model_path

    def set_model(self, model, path: Path | None = None) -> None:
        self.session.set_model(model, path)

    def _on_session(self, what: str) -> None:
        if what == "model":
            self.model_label.setText(self.session.describe_model())

    def _choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a denoiser", "", CHECKPOINT_FILTER)
        if path:
            self.open_model(path)

    def open_model(self, path: str | Path) -> None:
        """Load a checkpoint off the UI thread; a bad file leaves the current model in place."""
        self._run_open(self.session.open_model(path))

    def _run_open(self, work) -> None:
        start_work(work, self, applied=lambda _r: None,
                   failed=lambda message, _tb: self.session.say(f"Could not open the model: {message}"))

    def shutdown(self) -> None:
        """Stop live audio and playback (the app is closing)."""
        self.session.shutdown()
