"""Compare panel: the "generative learning trilemma" (quality, diversity, speed) measured on the open data set.

The list holds checkpoints of models trained on the open data set: runs of this session join it as they
save, "Find runs" adds earlier ones from the run folder, "Add…" any file. "Compare" samples every checked
model and scores it in a background task (``core.compare``): a table of the figures, the held-out real
images as the reference row, and a plot of sample quality against sampling time.
"""
from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QListWidget,
                               QListWidgetItem, QProgressBar, QPushButton, QSpinBox, QSplitter, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from core.compare import Comparison, ModelReport, compare_checkpoints, find_checkpoints, train_demo_zoo
from core.imaging import tile, upscale
from models import FAMILIES

from .context import AppContext
from .settings import runs_root
from .background.tasks import Task, on_ui_thread

THUMB_HEIGHT = 30  # pixels of the sample strip in the table
def family_colour(name: str) -> str:
    """A colour of its own for each registered family (grey for anything else, e.g. the real images)."""
    order = list(FAMILIES)
    return pg.intColor(order.index(name), hues=len(order), values=1, maxValue=200).name() if name in order \
        else "#7f7f7f"


def _number(value, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _nll(r: ModelReport) -> str:
    if r.bits_per_dim is None:
        return "—"
    return f"{r.bits_per_dim:.3f}" if r.nll_kind == "exact" else f"≤ {r.bits_per_dim:.3f}"


#: (header, tooltip, cell text) of the table's columns after Model and Samples.
COLUMNS = [
    ("Fréchet ↓", "Fréchet distance between the features of samples and of real images (the feature space of a "
                  "classifier trained on this data set): sample quality, lower is better",
     lambda r, c: _number(r.frechet, ".2f")),
    ("Inception FID ↓", "The same in Inception v3's feature space (only when its weights are on this machine)",
     lambda r, c: _number(r.inception_fid, ".1f")),
    ("Precision ↑", "Share of samples that look like some real image (on the real images' feature manifold)",
     lambda r, c: _number(r.precision, ".2f")),
    ("Recall ↑", "Share of real images some sample looks like: diversity, mode coverage",
     lambda r, c: _number(r.recall, ".2f")),
    ("Label entropy ↑", "Entropy of the classifier's labels for the samples over its maximum: 1 = all classes "
                        "equally often", lambda r, c: _number(r.label_entropy, ".2f")),
    ("Classes", "How many of the data set's classes the classifier sees among the samples",
     lambda r, c: "—" if r.classes_covered is None else f"{r.classes_covered}/{c.num_classes}"),
    ("NLL bits/dim ↓", "Negative log-likelihood of validation images: exact for flows, an upper bound (≤, the "
                       "negative ELBO) for Gaussian VAEs, undefined for GANs", lambda r, c: _nll(r)),
    ("ms / image ↓", "Sampling time per image, measured here on the CPU (diffusion: with the DDIM steps chosen)",
     lambda r, c: _number(r.ms_per_image, ".3g")),
    ("Train time", "Training time, from the checkpoint's metrics", lambda r, c: _duration(r.train_time_s)),
]


def _strip(images: np.ndarray) -> QPixmap:
    """A one-row strip of sample images, enlarged with crisp pixels to ``THUMB_HEIGHT``."""
    picture = np.ascontiguousarray(upscale(tile(images, pad=1), max(1, THUMB_HEIGHT // (images.shape[2] + 2))))
    h, w, _ = picture.shape
    image = QImage(picture.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(image).scaledToHeight(THUMB_HEIGHT, Qt.TransformationMode.FastTransformation)


class ComparePanel(QWidget):
    def __init__(self, context: AppContext, bridge=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.context, self.bridge = context, bridge
        self.comparison: Comparison | None = None
        self.task: Task | None = None
        self._cancel = threading.Event()
        self._progress: tuple[str, float] = ("", 0.0)
        self._generation = 0

        self.info = QLabel()
        self.info.setWordWrap(True)
        self.list = QListWidget()
        self.list.setMaximumHeight(110)
        self.list.setToolTip("Checked models are compared; hover for the checkpoint's path")
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.find_button = QPushButton("Find runs")
        self.find_button.setToolTip("Add the runs in the run folder that were trained on this data set")
        self.add_button = QPushButton("Add…")
        self.demo_button = QPushButton("Demo models")
        self.demo_button.setToolTip("Train a VAE, a GAN, a flow and a diffusion model for a few seconds each on this "
                                    "data set, then compare them")
        self.remove_button = QPushButton("Remove")
        self.samples_spin = QSpinBox()
        self.samples_spin.setRange(50, 20_000)
        self.samples_spin.setSingleStep(100)
        self.samples_spin.setValue(500)
        self.samples_spin.setPrefix("samples ")
        self.samples_spin.setToolTip("Samples drawn from each model (more: steadier figures, slower)")
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(0, 1000)
        self.steps_spin.setSpecialValueText("DDIM steps: model's own")
        self.steps_spin.setPrefix("DDIM steps ")
        self.steps_spin.setToolTip("Sampling steps of diffusion models: fewer is faster and worse (the trilemma)")
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("Sample every checked model and score it (in the background)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel()
        self.status.setWordWrap(True)

        self.table = QTableWidget(0, 2 + len(COLUMNS))
        self.table.setHorizontalHeaderLabels(["Model", "Samples", *(c[0] for c in COLUMNS)])
        for i, (_, tip, _) in enumerate(COLUMNS):
            self.table.horizontalHeaderItem(2 + i).setToolTip(tip)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(THUMB_HEIGHT + 6)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.plot = pg.PlotWidget()
        self.plot.setTitle("Quality against sampling speed (dot size: recall)", size="9pt")
        self.plot.setLabel("bottom", "sampling time per image (ms, log scale)")
        self.plot.setLabel("left", "Fréchet distance ↓")
        self.plot.setMinimumHeight(160)

        buttons = QHBoxLayout()
        for b in (self.find_button, self.add_button, self.remove_button, self.demo_button):
            buttons.addWidget(b)
        run_row = QHBoxLayout()
        for w in (self.samples_spin, self.steps_spin, self.compare_button, self.cancel_button):
            run_row.addWidget(w)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.info)
        top_layout.addWidget(self.list)
        top_layout.addLayout(buttons)
        top_layout.addLayout(run_row)
        top_layout.addWidget(self.progress)
        top_layout.addWidget(self.status)
        splitter = QSplitter(Qt.Orientation.Vertical)
        for w in (top, self.table, self.plot):
            splitter.addWidget(w)
        splitter.setSizes([220, 300, 260])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)

        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._show_progress)
        self.find_button.clicked.connect(self.find_runs)
        self.add_button.clicked.connect(self._choose_files)
        self.demo_button.clicked.connect(lambda: self.train_demo())
        self.remove_button.clicked.connect(self.remove_selected)
        self.compare_button.clicked.connect(self.compare)
        self.cancel_button.clicked.connect(lambda: self._cancel.set())
        context.data_changed.connect(lambda _d: self._on_data_changed())
        context.model_changed.connect(lambda _m: self._on_model_changed())
        if bridge is not None:
            bridge.checkpoint_saved.connect(self._on_checkpoint_saved)
        self._on_data_changed()

    # --- the list of checkpoints --------------------------------------------------------------
    @property
    def checkpoints(self) -> list[Path]:
        return [Path(self.list.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.list.count())]

    @property
    def checked(self) -> list[Path]:
        return [Path(item.data(Qt.ItemDataRole.UserRole)) for item in map(self.list.item, range(self.list.count()))
                if item.checkState() == Qt.CheckState.Checked]

    def add_checkpoint(self, path: str | Path) -> None:
        path = Path(path).resolve()
        if path in self.checkpoints:
            return
        item = QListWidgetItem(f"{path.parent.name}/{path.name}")
        item.setData(Qt.ItemDataRole.UserRole, str(path))
        item.setToolTip(str(path))
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked)
        self.list.addItem(item)
        self._update_buttons()

    def remove_selected(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))
        self._update_buttons()

    def _choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add checkpoints", str(runs_root()), "Checkpoints (*.pt)")
        for f in files:
            self.add_checkpoint(f)

    def find_runs(self) -> None:
        """Add the run folder's checkpoints of the open data set (read in the background)."""
        if self.context.data is None:
            return
        task = Task(find_checkpoints, runs_root(), self.context.data_source, parent=self)
        generation = self._generation
        task.done.connect(lambda paths: [self.add_checkpoint(p) for p in paths] if generation == self._generation
                          else None)
        task.failed.connect(lambda message, _tb: self.status.setText(message))
        task.start()

    def _on_checkpoint_saved(self, path: str) -> None:
        run = self.bridge.worker.run if self.bridge.worker is not None else None
        if run is not None and run.dataset_source == self.context.data_source:
            self.add_checkpoint(path)

    def _on_model_changed(self) -> None:
        if self.context.checkpoint_path is not None and self.context.model is not None \
                and self.context.data is not None and self.context.model.image_shape == self.context.data.image_shape:
            self.add_checkpoint(self.context.checkpoint_path)

    def _on_data_changed(self) -> None:
        self._generation += 1
        self._cancel.set()
        self.list.clear()
        self._show(None)
        data = self.context.data
        self.info.setText("Open a data set with labels, train models on it, then compare them here." if data is None
                          else f"Models trained on {data.name} ({len(data)} images, {list(data.image_shape)}). "
                               "Figures use a classifier the app trains on this data set (cached).")
        self._update_buttons()

    # --- comparing ---------------------------------------------------------------------------------
    def _update_buttons(self) -> None:
        busy = self.task is not None
        self.compare_button.setEnabled(not busy and self.context.data is not None and self.list.count() > 0)
        self.cancel_button.setEnabled(busy)
        for w in (self.find_button, self.add_button, self.remove_button, self.samples_spin, self.steps_spin):
            w.setEnabled(not busy)
        self.demo_button.setEnabled(not busy and self.context.data is not None)

    def compare(self) -> None:
        """Score the checked checkpoints on the open data set in the background."""
        paths = self.checked
        if not paths or self.context.data is None or self.task is not None:
            self.status.setText("Check at least one model to compare" if not paths else self.status.text())
            return
        self._start(self._finished, compare_checkpoints, self.context.data, paths, self.context.data_source,
                    self.samples_spin.value(), self.steps_spin.value() or None)

    def train_demo(self) -> None:
        """Train the demo models on the open data set, add them and compare them (all in one background task)."""
        data, source, samples = self.context.data, self.context.data_source, self.samples_spin.value()
        if data is None or self.task is not None:
            return

        def demo(progress, cancelled):
            paths = train_demo_zoo(data, source, runs_root() / "compare-demo", progress=progress)
            return paths, compare_checkpoints(data, paths, source, samples, None, progress, cancelled)

        def show(generation, result):
            for path in result[0]:
                self.add_checkpoint(path)
            self._finished(generation, result[1])

        self._start(show, demo)

    def _start(self, on_done, fn, *args) -> None:
        """Run ``fn(*args, progress, cancelled)`` in a task; ``on_done(generation, result)`` gets its result."""
        self._cancel = threading.Event()
        self._progress = ("starting", 0.0)
        self.task = Task(fn, *args, on_ui_thread(self._set_progress), self._cancel.is_set, parent=self)
        generation = self._generation
        self.task.done.connect(lambda result: on_done(generation, result))
        self.task.failed.connect(lambda message, tb: self._failed(generation, message, tb))
        self.task.start()
        self._timer.start()
        self._update_buttons()

    def _set_progress(self, message: str, fraction: float) -> None:
        """Only stores the latest state (the timer shows it)."""
        self._progress = (message, fraction)

    def _show_progress(self) -> None:
        message, fraction = self._progress
        self.status.setText(message)
        self.progress.setValue(round(1000 * fraction))

    def _end(self) -> None:
        self.task = None
        self._timer.stop()
        self._update_buttons()

    def _finished(self, generation: int, comparison: Comparison) -> None:
        self._end()
        if generation != self._generation:
            return
        self.progress.setValue(1000)
        self._show(comparison)
        self.status.setText(f"{len(comparison.reports)} models, {comparison.samples_per_model} samples each; "
                            f"feature classifier accuracy {100 * comparison.classifier_accuracy:.1f} % on held-out "
                            "images")

    def _failed(self, generation: int, message: str, traceback: str) -> None:
        self._end()
        if generation == self._generation:
            self.progress.setValue(0)
            self.status.setText(message if not traceback else f"comparison failed: {message}")

    # --- showing results -----------------------------------------------------------------------
    def _show(self, comparison: Comparison | None) -> None:
        self.comparison = comparison
        self.table.setRowCount(0)
        self.plot.clear()
        if comparison is None:
            return
        rows = [comparison.baseline, *comparison.reports]
        self.table.setColumnHidden(3, not comparison.inception)
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            name = QTableWidgetItem(r.label)
            name.setToolTip(r.checkpoint or "held-out real images of the data set, scored like a model's samples")
            self.table.setItem(i, 0, name)
            if r.samples is not None:
                thumb = QLabel()
                thumb.setPixmap(_strip(r.samples))
                self.table.setCellWidget(i, 1, thumb)
            else:
                self.table.setItem(i, 1, QTableWidgetItem(r.problem))
            for j, (_, tip, text) in enumerate(COLUMNS):
                item = QTableWidgetItem(text(r, comparison))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, 2 + j, item)
        self._plot(comparison)

    def _plot(self, comparison: Comparison) -> None:
        """Fréchet distance against log10 of the sampling time, decades labelled in ms."""
        xs = [math.log10(r.ms_per_image) for r in comparison.reports if r.frechet is not None and r.ms_per_image]
        if xs:
            lo, hi = math.floor(min(xs)), math.ceil(max(xs) + 0.3)
            self.plot.getAxis("bottom").setTicks([[(k, f"{10.0 ** k:g}") for k in range(lo, hi + 1)], []])
            self.plot.setXRange(lo, hi, padding=0.02)
        if comparison.baseline is not None:
            line = pg.InfiniteLine(comparison.baseline.frechet, angle=0,
                                   pen=pg.mkPen("#7f7f7f", style=Qt.PenStyle.DashLine), label="real images",
                                   labelOpts={"position": 0.9, "color": "#7f7f7f"})
            self.plot.addItem(line)
        for r in comparison.reports:
            if r.frechet is None or not r.ms_per_image:
                continue
            colour = family_colour(r.family)
            x = math.log10(r.ms_per_image)
            self.plot.addItem(pg.ScatterPlotItem([x], [r.frechet], size=8 + 12 * (r.recall or 0), brush=colour,
                                                 pen=pg.mkPen("w")))
            label = pg.TextItem(r.label.split(" (")[0], color=colour, anchor=(0, 1))
            label.setPos(x, r.frechet)
            self.plot.addItem(label)
