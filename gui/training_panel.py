"""Training panel: Start / Pause / Stop, progress with ETA, live loss curves and preview images.

Start asks for a run (``start_requested``; the main window hands it to the setup panel, which builds
the ``Run`` and starts the bridge). Everything else follows the bridge's signals.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QProgressBar, QPushButton, QSplitter, QVBoxLayout,
                               QWidget)

from core.follow import preview_of
from core.trainer import Run

from .bridge import TrainingBridge
from .context import AppContext
from .image_grid import ImageGrid
from .metric_plots import MetricPlots
from .background.tasks import Task

PREVIEWS = (("original", "Validation images"), ("reconstruction", "Reconstructions"), ("samples", "Samples"))
STATE_TEXT = {"idle": "Ready", "starting": "Starting…", "running": "Training", "paused": "Paused",
              "stopping": "Stopping…", "stopped": "Stopped", "finished": "Finished", "error": "Failed",
              "following": "Following"}
STATE_COLOUR = {"running": "#1a7f37", "paused": "#9a6700", "error": "#cf222e", "finished": "#0969da",
                "following": "#1a7f37"}
BUSY = ("starting", "running", "paused", "stopping")


def format_duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class TrainingPanel(QWidget):
    start_requested = Signal()

    def __init__(self, context: AppContext, bridge: TrainingBridge, parent: QWidget | None = None):
        super().__init__(parent)
        self.context, self.bridge = context, bridge
        self.state = "idle"
        self.epochs = 0
        self.unit = "images"

        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.start_button.setToolTip("Train the model chosen in Setup on the open data set")
        self.stop_button.setToolTip("Stop after the current step; the checkpoint is saved")
        self.state_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.run_label = QLabel()
        self.run_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.run_label.setWordWrap(True)

        self.plots = MetricPlots(columns=2)
        self.previews = {key: ImageGrid(title) for key, title in PREVIEWS}
        preview_row = QWidget()
        row = QHBoxLayout(preview_row)
        row.setContentsMargins(0, 0, 0, 0)
        for grid in self.previews.values():
            row.addWidget(grid)
        self.previews["samples"].hide()

        buttons = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.stop_button):
            buttons.addWidget(b)
        buttons.addSpacing(12)
        buttons.addWidget(self.state_label, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.plots)
        splitter.addWidget(preview_row)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.run_label)
        layout.addWidget(splitter, 1)

        self.start_button.clicked.connect(self._on_start)
        self.pause_button.clicked.connect(self._on_pause)
        self.stop_button.clicked.connect(self._on_stop)
        bridge.started.connect(self._on_started)
        bridge.following.connect(self._on_following)
        bridge.state_changed.connect(self._set_state)
        bridge.metrics.connect(self._on_metrics)
        bridge.preview.connect(self._on_preview)
        context.data_changed.connect(lambda _data: self._update_buttons())
        context.model_changed.connect(self._preview_followed_model)
        self._set_state("idle")

    # --- buttons --------------------------------------------------------------------------
    def _on_start(self) -> None:
        self._set_state("starting")
        self.start_requested.emit()

    def start_failed(self, message: str) -> None:
        """The run could not be built (bad setup): back to ready; the setup panel shows why."""
        self._set_state("idle")
        self.run_label.setText(f"Not started: {message}")

    def _on_pause(self) -> None:
        if self.state == "paused":
            self.bridge.resume()
        else:
            self.bridge.pause()
        self.pause_button.setEnabled(False)  # until the worker confirms

    def _on_stop(self) -> None:
        self._set_state("stopping")
        self.bridge.stop()  # (a followed run is let go at once: "stopped")

    def _set_state(self, state: str) -> None:
        if self.state == "stopping" and state in ("running", "paused"):
            return  # a late report from before the stop request
        self.state = state
        colour = STATE_COLOUR.get(state, "#57606a")
        self.state_label.setText(f"<b style='color:{colour}'>{STATE_TEXT.get(state, state)}</b>")
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.state in BUSY
        self.start_button.setEnabled(not busy and self.context.data is not None)
        self.pause_button.setEnabled(self.state in ("running", "paused"))
        self.pause_button.setText("Resume" if self.state == "paused" else "Pause")
        self.stop_button.setEnabled(self.state in ("running", "paused", "following"))

    # --- what the worker reports ----------------------------------------------------------
    def _on_started(self, run: Run) -> None:
        self.epochs = run.config.epochs
        self.plots.reset(x_limit=run.config.epochs)
        for grid in self.previews.values():
            grid.clear()
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        where = f" → {run.out_dir}" if run.out_dir else ""
        self.unit = run.unit
        data = run.describe()
        self.run_label.setText(f"<b>{run.model_name}</b> on <b>{data}</b>, "
                               f"{run.config.epochs} epochs{where}")
        self._set_state("running")

    def _on_following(self, run_dir: str) -> None:
        self.epochs = None  # until a row tells (epoch / progress)
        self.plots.reset()
        for grid in self.previews.values():
            grid.clear()
        self.progress.setValue(0)
        self.progress.setFormat("waiting for the run…")
        self.unit = "images"
        self.run_label.setText(f"Following <b>{run_dir}</b> (trained by another process; Stop lets it go)")

    def _preview_followed_model(self, model) -> None:
        """A followed run's newest checkpoint was loaded: its reconstructions and samples, computed here
        (the run's own previews stay in its process)."""
        data = self.context.data
        if self.state != "following" or model is None or data is None or model.capabilities.modality != "image" \
                or list(model.image_shape) != list(data.image_shape):
            return
        task = Task(preview_of, model, data, parent=self)
        task.done.connect(lambda grids: self._on_preview(grids) if self.state == "following" else None)
        task.failed.connect(lambda message, _tb: self.context.status.emit(f"No previews of the followed model: {message}"))
        task.start()

    def _on_metrics(self, row: dict) -> None:
        self.plots.add_row(row)
        if self.epochs is None and row.get("progress"):
            self.epochs = round(row["epoch"] / row["progress"])
        if "progress" in row:
            self.progress.setValue(round(1000 * row["progress"]))
            parts = [f"epoch {row['epoch']:.1f}" + (f" / {self.epochs}" if self.epochs else "")]
            if row.get("eta_s") is not None:
                parts.append(f"ETA {format_duration(row['eta_s'])}")
            if row.get("samples_per_s"):
                parts.append(f"{row['samples_per_s']:,.0f} {self.unit}/s")
            self.progress.setFormat("%p%  ·  " + "  ·  ".join(parts))

    def _on_preview(self, event: dict) -> None:
        for key, grid in self.previews.items():
            images = event.get(key)
            grid.setVisible(images is not None or key != "samples")
            if isinstance(images, np.ndarray) and len(images):
                grid.set_images(images)
