"""Audio panel: the live denoiser. Train a denoiser on your speech and noise, talk into the microphone
and hear the cleaned voice; or denoise a file.

It holds its own audio model (the shared context holds image models): opened here, by File ▸ Open
checkpoint, or from a run started in its Train tab. Tabs: Live (``gui.audio.live``), File
(``gui.audio.file``), Train (``gui.audio.train``).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QTabWidget, QVBoxLayout, QWidget

from core.train.checkpoint import load_for

from ..background.tasks import Task
from ..bridge import TrainingBridge
from ..context import AppContext
from .file import FileView
from .live import LiveView
from .train import TrainView

CHECKPOINT_FILTER = "Checkpoints (*.pt);;All files (*)"


def load_audio_checkpoint(path: Path):
    return load_for(path, "denoises")[0]


class AudioPanel(QWidget):
    def __init__(self, context: AppContext, bridge: TrainingBridge, parent: QWidget | None = None):
        super().__init__(parent)
        self.context = context
        self.model = None
        self.checkpoint_path: Path | None = None

        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.open_button = QPushButton("Open model…")
        self.open_button.setToolTip("Open a denoiser checkpoint (checkpoint.pt of an audio-dae run)")
        self.live = LiveView()
        self.file = FileView(output_device=lambda: self.live.output_combo.currentData())
        self.train = TrainView(bridge)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.live, "Live")
        self.tabs.addTab(self.file, "File")
        self.tabs.addTab(self.train, "Train")
        top = QHBoxLayout()
        top.addWidget(self.model_label, 1)
        top.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.tabs, 1)

        self.open_button.clicked.connect(self._choose_model)
        self.train.trained.connect(self.open_model)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self.set_model(None)

    # --- the model ------------------------------------------------------------------------
    def set_model(self, model, path: Path | None = None) -> None:
        self.model, self.checkpoint_path = model, path
        if model is None:
            self.model_label.setText("<b>No denoiser yet</b> — train one (Train tab) or open a checkpoint.")
        else:
            where = f" from {path.parent.name}/{path.name}" if path else ""
            latency = f", {1000 * model.latency_samples / model.sample_rate:.0f} ms latency" if model.capabilities.streams else \
                ", offline only"
            self.model_label.setText(f"<b>{model.name}</b>{where}: {model.sample_rate} Hz, "
                                     f"{'mono' if model.channels == 1 else 'stereo'}{latency}")
        self.live.set_model(model)
        self.file.set_model(model)

    def _choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a denoiser", "", CHECKPOINT_FILTER)
        if path:
            self.open_model(path)

    def open_model(self, path: str | Path) -> None:
        """Load a checkpoint off the UI thread; a bad file leaves the current model in place."""
        path = Path(path)
        task = Task(load_audio_checkpoint, path, parent=self)
        task.done.connect(lambda model: self.set_model(model, path))
        task.failed.connect(lambda message, _tb: self.live.show_message(f"Could not open the model: {message}"))
        task.start()

    def shutdown(self) -> None:
        """Stop live audio and playback (the app is closing)."""
        self.live.stop()
