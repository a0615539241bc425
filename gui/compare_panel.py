"""Compare panel: the view of a ``core.sessions.compare.CompareSession``, the "generative learning trilemma"
(quality, diversity, speed) measured on the open data set.

The list holds checkpoints of models trained on the open data set: runs of this session join it as they save,
"Find runs" adds earlier ones from the run folder, "Add…" any file, "Demo models" trains four small ones.
"Compare" samples every checked model and scores it in a background job with progress and Cancel: a table of
the figures, the held-out real images as the reference row, and a chart of sample quality against sampling
time (one colour per family, one marker per run).
"""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPalette, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QListWidget,
                               QListWidgetItem, QProgressBar, QPushButton, QSpinBox, QSplitter, QStackedWidget,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from core.errors import LatentExplorerError
from core.image.imaging import tile, upscale
from core.sessions import Work
from core.sessions.compare import COLUMNS, INCEPTION_COLUMN, SAMPLES_RANGE, CompareSession, Point
from models import names

from .background.jobs import Job
from .background.works import start_job, start_work
from .context import AppContext
from .settings import runs_root

THUMB_HEIGHT, THUMB_COUNT = 30, 6  # pixels of the sample strip in the table, samples in it
MODEL_WIDTH = 180  # px at most for the model's name (longer names are elided; the tooltip has the path)
SYMBOLS = ("o", "s", "t", "d", "star", "p", "h", "t1", "x", "+")  # one marker per run in the chart
#: Distinct colours for the image families in registry order (ae, dae, conv-ae, vae, conv-vae, β-TCVAE, gan, flow,
#: diffusion, latent diffusion): the demo's VAE, GAN, flow and diffusion are red, orange, green and indigo.
FAMILY_COLOURS = ("#1f77b4", "#17becf", "#8c564b", "#d62728", "#e377c2", "#9467bd", "#ff7f0e", "#2ca02c", "#3949ab",
                  "#bcbd22")
HEADER_WIDTH = 8  # characters per line of a column header
DEMO_FOLDER = "compare-demo"  # under the run folder

__all__ = ["COLUMNS", "ComparePanel"]


def family_colour(name: str) -> str:
    """A colour of its own for each image family (grey for anything else, e.g. the real images)."""
    image_families = names("image")
    return FAMILY_COLOURS[image_families.index(name) % len(FAMILY_COLOURS)] if name in image_families else "#7f7f7f"


def header_text(header: str) -> str:
    """A column's header on up to a few short lines, its arrow kept with the last word: narrow columns."""
    return "\n".join(textwrap.wrap(header.replace(" ↓", "\u00a0↓").replace(" ↑", "\u00a0↑"), HEADER_WIDTH,
                                   break_long_words=False, break_on_hyphens=False))


def _strip(images: np.ndarray) -> QPixmap:
    """A one-row strip of the first ``THUMB_COUNT`` sample images, enlarged with crisp pixels to ``THUMB_HEIGHT``."""
    images = images[:THUMB_COUNT]
    picture = np.ascontiguousarray(upscale(tile(images, pad=1), max(1, THUMB_HEIGHT // (images.shape[2] + 2))))
    h, w, _ = picture.shape
    image = QImage(picture.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(image).scaledToHeight(THUMB_HEIGHT, Qt.TransformationMode.FastTransformation)


class ComparePanel(QWidget):
    def __init__(self, context: AppContext, bridge=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.context, self.bridge = context, bridge
        self.session = CompareSession(context.workspace)
        self.task: Job | None = None

        self.info = QLabel()
        self.info.setWordWrap(True)
        self.list = QListWidget()
        self.list.setMaximumHeight(110)
        self.list.setToolTip("Checked models are compared; hover for the checkpoint's path")
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.find_button = QPushButton("Find runs")
        self.find_button.setToolTip("Add the runs in the run folder that were trained on this data set")
        self.add_button = QPushButton("Add…")
        self.add_button.setToolTip("Add checkpoint files")
        self.demo_button = QPushButton("Demo models")
        self.demo_button.setToolTip("Train a VAE, a GAN, a flow and a diffusion model for a few seconds each on this "
                                    "data set, then compare them")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected models from the list")
        self.samples_spin = QSpinBox()
        self.samples_spin.setRange(*SAMPLES_RANGE)
        self.samples_spin.setSingleStep(100)
        self.samples_spin.setValue(self.session.samples)
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
        self.table.setHorizontalHeaderLabels(["Model", "Samples", *(header_text(c.header) for c in COLUMNS)])
        for i, column in enumerate(COLUMNS):
            self.table.horizontalHeaderItem(2 + i).setToolTip(column.tip)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(THUMB_HEIGHT + 6)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.plot = pg.PlotWidget()
        self.plot.setTitle("Quality against sampling speed (dot size: recall)", size="9pt")
        self.plot.setLabel("bottom", "sampling time per image (ms, log scale)")
        self.plot.setLabel("left", "Fréchet distance ↓")
        self.plot.setMinimumHeight(160)
        self.legend = self.plot.addLegend(offset=(-8, 8), labelTextSize="8pt")
        self.empty = QLabel()
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        faint = self.empty.palette()
        faint.setColor(QPalette.ColorRole.WindowText, faint.color(QPalette.ColorRole.PlaceholderText))
        self.empty.setPalette(faint)

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
        results = QSplitter(Qt.Orientation.Vertical)
        results.addWidget(self.table)
        results.addWidget(self.plot)
        results.setSizes([300, 260])
        self.results = QStackedWidget()
        self.results.addWidget(self.empty)
        self.results.addWidget(results)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(self.results)
        splitter.setSizes([220, 560])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)

        self.list.itemChanged.connect(lambda item: self._check_changed(item))
        self.list.itemSelectionChanged.connect(lambda: self._update())
        self.find_button.clicked.connect(lambda: self.find_runs())
        self.add_button.clicked.connect(lambda: self.choose_files())
        self.demo_button.clicked.connect(lambda: self.train_demo())
        self.remove_button.clicked.connect(lambda: self.remove_selected())
        self.compare_button.clicked.connect(lambda: self.compare())
        self.cancel_button.clicked.connect(lambda: self.cancel())
        self.samples_spin.valueChanged.connect(lambda _v: self._options_changed())
        self.steps_spin.valueChanged.connect(lambda _v: self._options_changed())
        context.data_changed.connect(lambda _d: self._on_data_changed())
        context.model_changed.connect(lambda _m: self._on_model_changed())
        if bridge is not None:
            bridge.checkpoint_saved.connect(lambda path: self._on_checkpoint_saved(path))
        self._on_data_changed()

    # --- the list of checkpoints --------------------------------------------------------------
    @property
    def checkpoints(self) -> list[Path]:
        return self.session.checkpoints

    @property
    def checked(self) -> list[Path]:
        return self.session.checked

    @property
    def comparison(self):
        return self.session.comparison

    def add_checkpoint(self, path: str | Path) -> None:
        if self.session.add(path):
            self._fill_list()

    def remove_selected(self) -> None:
        self.session.remove(item.data(Qt.ItemDataRole.UserRole) for item in self.list.selectedItems())
        self._fill_list()

    def choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add checkpoints", str(runs_root()), "Checkpoints (*.pt)")
        for f in files:
            self.session.add(f)
        self._fill_list()

    def find_runs(self) -> None:
        """Add the run folder's checkpoints of the open data set (read in the background)."""
        root = runs_root()
        try:
            work = self.session.find_runs(root)
        except LatentExplorerError as exc:
            self.status.setText(str(exc))
            return
        start_work(work, self, lambda added: self._on_runs_found(added, root),
                   lambda message, _tb: self.status.setText(message))

    def _on_runs_found(self, added: int, root: Path) -> None:
        self._fill_list()
        self.status.setText(f"{added} run{'s' * (added != 1)} of this data set found in {root}" if added
                            else f"No new runs of this data set in {root}")

    def _fill_list(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for entry in self.session.entries:
            item = QListWidgetItem(entry.name)
            item.setData(Qt.ItemDataRole.UserRole, str(entry.path))
            item.setToolTip(str(entry.path))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if entry.checked else Qt.CheckState.Unchecked)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self._update()

    def _check_changed(self, item: QListWidgetItem) -> None:
        self.session.set_checked(item.data(Qt.ItemDataRole.UserRole), item.checkState() == Qt.CheckState.Checked)
        self._update()

    def _on_checkpoint_saved(self, path: str) -> None:
        run = self.bridge.worker.run if self.bridge.worker is not None else None
        if run is not None and self.session.add_trained(path, run.dataset_source):
            self._fill_list()

    def _on_model_changed(self) -> None:
        if self.session.add_current_model():
            self._fill_list()

    def _on_data_changed(self) -> None:
        self.cancel()
        self.session.start_over()
        self.info.setText(self.session.describe())
        self.status.clear()
        self.progress.setValue(0)
        self._fill_list()
        self._show_results()

    # --- comparing ---------------------------------------------------------------------------------
    def _options_changed(self) -> None:
        self.session.set_options(self.samples_spin.value(), self.steps_spin.value())

    def _update(self) -> None:
        busy, has_data = self.task is not None, self.context.data is not None
        self.compare_button.setEnabled(not busy and bool(self.session.checked))
        self.cancel_button.setEnabled(busy)
        for w in (self.find_button, self.add_button, self.demo_button):
            w.setEnabled(not busy and has_data)
        for w in (self.samples_spin, self.steps_spin):
            w.setEnabled(not busy)
        self.remove_button.setEnabled(not busy and bool(self.list.selectedItems()))
        self.list.setEnabled(not busy)
        if self.session.comparison is None:
            self.empty.setText(self.session.empty_text())

    def compare(self) -> None:
        """Score the checked checkpoints on the open data set in the background."""
        self._start(self.session.compare)

    def train_demo(self) -> None:
        """Train the demo models on the open data set, add them and compare them (one background job)."""
        self._start(self.session.demo_models, runs_root() / DEMO_FOLDER)

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _start(self, make_work, *args) -> None:
        """Ask the session for a Work and run it as a job with progress and Cancel."""
        if self.task is not None:
            return
        try:
            work: Work = make_work(*args)
        except LatentExplorerError as exc:
            self.status.setText(str(exc))
            return
        self.task = start_job(work, self, self._finished, self._failed)
        self.task.progress.connect(self._show_progress)
        self.task.cancelled.connect(lambda: self._failed("cancelled"))
        self.status.setText(f"{work.what[0].upper()}{work.what[1:]}…")
        self.progress.setValue(0)
        self._update()

    def _show_progress(self, fraction: float, text: str) -> None:
        self.status.setText(text)
        if fraction >= 0:
            self.progress.setValue(round(1000 * fraction))

    def _finished(self, message: str | None) -> None:
        self.task = None
        if message is not None:
            self.progress.setValue(1000)
            self.status.setText(message)
            self._fill_list()
            self._show_results()
        self._update()

    def _failed(self, message: str, traceback: str = "") -> None:
        self.task = None
        self.progress.setValue(0)
        self.status.setText(message if not traceback else f"comparison failed: {message}")
        self._update()

    # --- showing results -----------------------------------------------------------------------
    def _show_results(self) -> None:
        rows = self.session.rows()
        self.table.setRowCount(0)
        self.plot.clear()
        self.results.setCurrentIndex(1 if rows else 0)
        self._update()
        if not rows:
            return
        self.table.setColumnHidden(2 + INCEPTION_COLUMN, not self.session.shows_inception)
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            name = QTableWidgetItem(row.label)
            name.setToolTip(row.tooltip)
            self.table.setItem(i, 0, name)
            if row.samples is not None:
                thumb = QLabel()
                thumb.setPixmap(_strip(row.samples))
                self.table.setCellWidget(i, 1, thumb)
            else:
                self.table.setItem(i, 1, QTableWidgetItem(row.note))
            for j, text in enumerate(row.cells):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, 2 + j, item)
        self.table.setColumnWidth(0, min(self.table.sizeHintForColumn(0), MODEL_WIDTH))
        self._plot(self.session.points())

    def _plot(self, points: list[Point]) -> None:
        """Fréchet distance against log10 of the sampling time (decades labelled in ms): one colour per family,
        one marker per run, each point labelled with its run and listed in the legend."""
        lo = hi = 0
        if points:
            xs = [math.log10(p.ms_per_image) for p in points]
            lo, hi = math.floor(min(xs)), math.ceil(max(xs) + 0.3)
            self.plot.getAxis("bottom").setTicks([[(k, f"{10.0 ** k:g}") for k in range(lo, hi + 1)], []])
            self.plot.setXRange(lo, hi, padding=0.02)
        baseline = self.session.baseline_frechet
        if baseline is not None:
            self.plot.addItem(pg.InfiniteLine(baseline, angle=0, pen=pg.mkPen("#7f7f7f", style=Qt.PenStyle.DashLine),
                                              label="real images", labelOpts={"position": 0.9, "color": "#7f7f7f"}))
        for p in points:
            colour, x = family_colour(p.family), math.log10(p.ms_per_image)
            self.plot.addItem(pg.ScatterPlotItem([x], [p.frechet], size=8 + 12 * p.recall, brush=colour,
                                                 symbol=SYMBOLS[p.marker % len(SYMBOLS)], pen=pg.mkPen("w"),
                                                 name=p.label))
            label = pg.TextItem(p.label, color=colour, anchor=(0 if x < (lo + hi) / 2 else 1, 1))  # inside the plot
            label.setPos(x, p.frechet)
            self.plot.addItem(label)
