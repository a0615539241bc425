"""Latent panel: a view over ``core.sessions.latent.LatentSession``: sliders over the model's code, the
picture of the code, traversal grids and sample grids from the prior.

One slider per latent dimension (latents up to 64 dims) or per principal direction of the data's codes;
each spans about ±3σ of the codes. Moving a slider decodes live on a latest-value-wins background thread
(``gui.background.latest``), so the picture follows the hand and never queues up stale positions. Code
statistics, traversals and sample grids run as background tasks; for diffusion models, "Show denoising"
draws the sample grid as a cancellable ``Job`` that shows the predicted clean images after every DDIM step.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QGridLayout, QGroupBox, QHBoxLayout,
                               QLabel, QPushButton, QScrollArea, QSlider, QSpinBox, QSplitter, QVBoxLayout, QWidget)

from core.errors import LatentExplorerError
from core.sessions import Work
from core.sessions.latent import ALL_AXES, GRID_SIDES, LatentSession

from .background.jobs import Job
from .background.latest import LatestOnly
from .background.tasks import on_ui_thread
from .background.works import start_job, start_work
from .context import AppContext
from .image_grid import ImageGrid
from .number_field import DecimalField, WholeField
from .settings import save_file_name

SLIDER_STEPS = 1000  # integer positions across a slider's ±3σ
SLIDERS_HINT = "One slider per latent dimension shows here once there is a model"
SLIDERS_WAIT = "The sliders show once the codes of the data are measured…"
PNG_FILTER = "PNG images (*.png)"


class LatentPanel(QWidget):
    decoded = Signal(int)  # the request number of the code now on screen (benchmarks wait on it)
    denoise_shown = Signal(int, int)  # (step, steps): a denoising step's predictions are on screen

    def __init__(self, context: AppContext, bridge=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.context = context
        self.session = LatentSession(context.workspace)
        self.sample_job: Job | None = None  # the denoising being watched, if any
        self.live = LatestOnly("latent-sliders", self)
        self.live.done.connect(lambda work, picture: work.apply(picture))
        self.live.failed.connect(lambda _work, message, _tb: self._problem(message))

        # --- left: the decoded code, its buttons and sliders
        self.view = ImageGrid("Decoded code", placeholder="The picture of the code shows here once there is a model")
        self.view.setMinimumSize(220, 220)
        self.from_item_button = QPushButton("From selected item")
        self.from_item_button.setToolTip("Start from the code of the item picked on the map or in a browser")
        self.random_button = QPushButton("Random")
        self.random_button.setToolTip("A random code from a Gaussian fitted to the data's codes")
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Back to the mean code")
        self.from_item_button.clicked.connect(lambda _checked=False: self.start_from_selected_item())
        self.random_button.clicked.connect(lambda _checked=False: self.session.random_code())
        self.reset_button.clicked.connect(lambda _checked=False: self.session.reset_code())
        buttons = QHBoxLayout()
        for b in (self.from_item_button, self.random_button, self.reset_button):
            buttons.addWidget(b)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self._shown_problem = ""  # the problem the info line shows, if any
        self.slider_rows = QWidget()
        self.slider_grid = QGridLayout(self.slider_rows)
        self.slider_grid.setContentsMargins(2, 2, 2, 2)
        self.slider_grid.setVerticalSpacing(1)
        self.sliders: list[QSlider] = []
        self.slider_values: list[QLabel] = []
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.slider_rows)
        left = QVBoxLayout()
        left.addWidget(self.view, 3)
        left.addLayout(buttons)
        left.addWidget(self.info)
        left.addWidget(scroll, 4)

        # --- right: traversal and samples
        self.axis_combo = QComboBox()
        self.axis_combo.setToolTip("Which axis to sweep (one row per axis for 'All axes')")
        self.steps_spin = WholeField(3, 21, "Steps")
        self.steps_spin.setValue(self.session.steps)
        self.steps_spin.setSuffix(" steps")
        self.traverse_button = QPushButton("Traverse")
        self.traverse_button.clicked.connect(lambda _checked=False: self.traverse())
        self.save_traversal_button = QPushButton("Save PNG…")
        self.save_traversal_button.clicked.connect(lambda _checked=False: self.save_traversal())
        self.traversal_view = ImageGrid("Sweep each axis from −3σ to +3σ around the current code",
                                        placeholder="Traversals of the code's axes show here once there is a model")
        traversal_box = QGroupBox("Traversal")
        row = QHBoxLayout()
        for w in (self.axis_combo, self.steps_spin, self.traverse_button, self.save_traversal_button):
            row.addWidget(w)
        row.addStretch(1)
        box = QVBoxLayout(traversal_box)
        box.addLayout(row)
        box.addWidget(self.traversal_view, 1)

        self.grid_combo = QComboBox()
        for side in GRID_SIDES:
            self.grid_combo.addItem(f"{side} × {side}", side)
        self.grid_combo.setCurrentIndex(self.grid_combo.findData(self.session.side))
        self.temperature_spin = DecimalField(0.0, 3.0, "Temperature", decimals=2)
        self.temperature_spin.setSingleStep(0.1)
        self.temperature_spin.setValue(self.session.temperature)
        self.temperature_spin.setPrefix("temperature ")
        self.temperature_spin.setToolTip("Scales the prior's noise: below 1 safer, blander samples; above 1 wilder")
        for spin in (self.steps_spin, self.temperature_spin):
            spin.problem_changed.connect(lambda _p: self._update_buttons())
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setPrefix("seed ")
        self.seed_spin.setToolTip("A fixed seed draws the same grid again (e.g. to compare temperatures)")
        self.sample_button = QPushButton("Sample")
        self.sample_button.setToolTip("Draw the grid with this seed")
        self.new_seed_button = QPushButton("New seed")
        self.new_seed_button.setToolTip("Pick a fresh seed and draw")
        self.save_samples_button = QPushButton("Save PNG…")
        self.denoise_check = QCheckBox("Show denoising")
        self.denoise_check.setToolTip("Diffusion models: watch the grid form, the predicted clean images after "
                                      "every denoising step (drawing again cancels)")
        self.denoise_check.setVisible(False)
        self.sample_button.clicked.connect(lambda _checked=False: self.sample())
        self.new_seed_button.clicked.connect(lambda _checked=False: self.new_seed())
        self.save_samples_button.clicked.connect(lambda _checked=False: self.save_samples())
        self.samples_view = ImageGrid("Samples from the prior")
        samples_box = QGroupBox("Generation")
        row = QHBoxLayout()
        for w in (self.grid_combo, self.temperature_spin, self.seed_spin, self.denoise_check, self.sample_button,
                  self.new_seed_button, self.save_samples_button):
            row.addWidget(w)
        row.addStretch(1)
        box = QVBoxLayout(samples_box)
        box.addLayout(row)
        box.addWidget(self.samples_view, 1)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(traversal_box)
        right.addWidget(samples_box)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)

        left_widget = QWidget()
        left_widget.setLayout(left)
        layout = QHBoxLayout(self)
        layout.addWidget(left_widget, 2)
        layout.addWidget(right, 3)

        listener = self._on_session
        session = self.session
        session.listen(listener)
        self.destroyed.connect(lambda *_args: session.unlisten(listener))
        self.refresh()

    @property
    def model(self):
        return self.session.model

    # --- what the session tells -------------------------------------------------------------
    def _on_session(self, what: str) -> None:
        session = self.session
        if what == "reset":
            self.refresh()
        elif what == "stats":
            self._show_stats()
        elif what == "code":
            self._show_code()
            work = session.decode_work()
            self.live.submit(work, work.compute, *work.args)
        elif what == "decoded":
            self.view.title.setText(session.picture_title)
            self.view.set_images(session.picture)
            self.decoded.emit(session.shown_request)
        elif what == "traversal":
            self.traversal_view.set_images(session.traversal.images, session.traversal.cols)
            self.traversal_view.title.setText(session.traversal.title)
            self._update_buttons()
        elif what == "samples":
            self.sample_job = None
            self.samples_view.set_images(session.samples.images, session.samples.cols)
            self.samples_view.title.setText(session.samples.title)
            self._update_buttons()
        elif what == "denoise_step":
            self.samples_view.set_images(session.denoising.images, session.denoising.cols)
            self.samples_view.title.setText(session.denoising.title)
            self.denoise_shown.emit(*session.denoise_step)
        elif what == "current_index":
            self._update_buttons()

    def refresh(self) -> None:
        """Start over for the context's model and data: measure the codes, then rebuild the sliders."""
        self._cancel_sampling()
        work = self.session.refresh()
        self._build_sliders()
        self.info.setText(self.session.describe())
        self.view.clear()
        self.view.title.setText("Decoded code")
        self.traversal_view.clear()
        self.samples_view.clear(self.session.why_no_samples() or "no images yet")
        self._update_buttons()
        if work is not None:
            self._run(work, then=self._fill_grids)

    def _run(self, work: Work, then=None) -> None:
        task = start_work(work, self)
        task.failed.connect(lambda message, _tb: self._problem(message))
        task.done.connect(lambda _result: self._worked())
        if then is not None:
            task.done.connect(lambda _result: then())

    def _fill_grids(self) -> None:
        """With the statistics known: the traversal around the mean, and samples if the model has a prior."""
        if not self.session.ready:
            return  # statistics of a model that has been replaced meanwhile
        self.traverse()
        if self.session.can_sample:
            self.sample()

    def _show_stats(self) -> None:
        stats = self.session.stats
        self.info.setText(self.session.describe())
        self._build_sliders()
        self.axis_combo.clear()
        self.axis_combo.addItem("All axes", ALL_AXES)
        for k, name in enumerate(stats.labels):
            self.axis_combo.addItem(name, k)
        self.axis_combo.setCurrentIndex(self.axis_combo.findData(self.session.axis))
        self._update_buttons()

    def _build_sliders(self) -> None:
        while self.slider_grid.count():
            item = self.slider_grid.takeAt(0)  # a taken item is ours to delete (QLayout::takeAt): kept, it leaked
            widget = item.widget()
            shiboken6.delete(item)
            widget.hide()  # (deleted later: only once the event loop runs, which --screenshot's does not)
            widget.deleteLater()
        self.sliders, self.slider_values = [], []
        stats = self.session.stats
        count = len(stats.labels) if stats else 0
        if not count:
            hint = QLabel(SLIDERS_HINT if self.session.model is None else SLIDERS_WAIT)
            hint.setWordWrap(True)
            hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
            hint.setStyleSheet("color: #57606a; padding: 16px;")
            self.slider_grid.addWidget(hint, 0, 0)
        self._positions, self._texts = [SLIDER_STEPS // 2] * count, ["+0.0σ"] * count  # what the sliders show
        for k, name in enumerate(stats.labels if stats else []):
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(0, SLIDER_STEPS)
            slider.setValue(SLIDER_STEPS // 2)
            slider.valueChanged.connect(lambda pos, k=k: self._on_slider(k, pos))
            value = QLabel("+0.0σ")
            value.setMinimumWidth(48)
            self.slider_grid.addWidget(QLabel(name), k, 0)
            self.slider_grid.addWidget(slider, k, 1)
            self.slider_grid.addWidget(value, k, 2)
            self.sliders.append(slider)
            self.slider_values.append(value)

    def _update_buttons(self) -> None:
        session = self.session
        self.from_item_button.setEnabled(session.can_start_from_item)
        for w in (self.random_button, self.reset_button, self.traverse_button, self.axis_combo, self.steps_spin):
            w.setEnabled(session.ready)
        for w in (self.sample_button, self.new_seed_button, self.grid_combo, self.temperature_spin, self.seed_spin,
                  self.denoise_check):
            w.setEnabled(session.can_sample)
        self.traverse_button.setEnabled(session.ready and not self.steps_spin.problem())  # (a typed value out of
        self.sample_button.setEnabled(session.can_sample and not self.temperature_spin.problem())  # range: named)
        self.new_seed_button.setEnabled(self.sample_button.isEnabled())
        self.denoise_check.setVisible(session.can_denoise)
        if session.model is not None and session.why_no_samples():
            self.samples_view.title.setText(session.why_no_samples())
        self.save_traversal_button.setEnabled(session.traversal is not None)
        self.save_samples_button.setEnabled(session.samples is not None)

    # --- the code and its sliders -----------------------------------------------------------
    def _on_slider(self, k: int, pos: int) -> None:
        if self.session.ready:
            self._positions[k] = pos
            lo, hi = self.session.ranges()[k]
            self.session.set_coord(k, float(lo + (hi - lo) * pos / SLIDER_STEPS))

    def _show_code(self) -> None:
        """Move the sliders to the session's code, quietly; only those that moved (a slider follows the hand)."""
        session = self.session
        (lo, hi), coords = session.ranges().T, session.coords()
        sigmas = coords / session.stats.scales
        positions = np.rint((np.clip(coords, lo, hi) - lo) / (hi - lo) * SLIDER_STEPS).astype(int).tolist()
        for k, (slider, value, pos, sigma) in enumerate(zip(self.sliders, self.slider_values, positions,
                                                             sigmas.tolist())):
            if pos != self._positions[k]:
                self._positions[k] = pos
                slider.blockSignals(True)
                slider.setValue(pos)
                slider.blockSignals(False)
            text = f"{sigma:+.1f}σ"
            if text != self._texts[k]:
                self._texts[k] = text
                value.setText(text)

    def start_from_selected_item(self) -> None:
        work = self.session.item_work()
        if work is not None:
            self._run(work)

    # --- traversal and samples --------------------------------------------------------------
    def traverse(self) -> None:
        session = self.session
        session.axis, session.steps = self.axis_combo.currentData(), self.steps_spin.value()
        try:
            work = session.traverse_work()
        except LatentExplorerError as exc:
            self._problem(str(exc))
            return
        self.traversal_view.title.setText(work.what)
        self._run(work)

    def sample(self) -> None:
        """Draw the sample grid in the background; with "Show denoising" on, step by step. Replaces any grid
        still being drawn."""
        self._cancel_sampling()
        session = self.session
        session.side, session.temperature = self.grid_combo.currentData(), self.temperature_spin.value()
        session.seed, session.denoise = self.seed_spin.value(), self.denoise_check.isChecked()
        work = session.sample_work(on_ui_thread(self._on_denoise_step))
        self.samples_view.title.setText(work.what)
        if session.denoise and session.can_denoise:
            self.sample_job = start_job(work, self)
            self.sample_job.failed.connect(lambda message, _tb: self._problem(message))
        else:
            self._run(work)

    def _cancel_sampling(self) -> None:
        self.session.stop_sampling()
        if self.sample_job is not None:
            self.sample_job.cancel()
            self.sample_job = None

    def _on_denoise_step(self, request: int, t: int, step: int, steps: int, images) -> None:
        self.session.show_denoise_step(request, t, step, steps, images)

    def new_seed(self) -> None:
        self.seed_spin.setValue(self.session.new_seed())
        self.sample()

    def save_traversal(self, path: str | Path | None = None) -> Path | None:
        return self._save(path, self.session.save_traversal, "traversal.png")

    def save_samples(self, path: str | Path | None = None) -> Path | None:
        return self._save(path, self.session.save_samples, "samples.png")

    def _save(self, path, save, suggestion: str) -> Path | None:
        if path is None:
            path = save_file_name(self, "Save grid as PNG", suggestion, PNG_FILTER)
            if not path:
                return None
        try:
            saved = save(Path(path))
        except LatentExplorerError as exc:
            self._problem(str(exc))
            return None
        self._worked()
        self.context.status.emit(f"Saved {saved}")
        return saved

    def _problem(self, message: str) -> None:
        """Say what went wrong, until the next drawing or save works (``_worked``)."""
        self._shown_problem = message
        self.info.setText(message)
        self.context.status.emit(message)

    def _worked(self) -> None:
        if self._shown_problem and self.info.text() == self._shown_problem:
            self.info.setText(self.session.describe())
        self._shown_problem = ""
