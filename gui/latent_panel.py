"""Latent panel: sliders over the model's code, traversal grids, and sample grids from the prior.

One slider per latent dimension (latents up to 64 dims) or per principal direction of the data's codes;
each spans about ±3σ of the codes. Moving a slider decodes live on a latest-value-wins background
thread (``gui.background.latest``), so the picture follows the hand and never queues up stale positions. Code
statistics, traversals and sample grids run as background ``Task``s; for diffusion models, "Show denoising"
draws the sample grid as a cancellable ``Job`` that shows the predicted clean images after every DDIM step.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QGridLayout, QGroupBox, QHBoxLayout, QLabel,
                               QPushButton, QScrollArea, QSlider, QSpinBox, QSplitter, QVBoxLayout, QWidget)

from core import latent
from core.imaging import save_grid

from .context import AppContext
from .image_grid import ImageGrid
from .background.jobs import Job
from .background.latest import LatestOnly
from .background.tasks import Task, on_ui_thread

SLIDER_STEPS = 1000  # integer positions across a slider's ±3σ
PNG_FILTER = "PNG images (*.png)"


class LatentPanel(QWidget):
    decoded = Signal(int)  # the request number of the code now on screen (benchmarks wait on it)
    denoise_shown = Signal(int, int)  # (step, steps): a denoising step's predictions are on screen

    def __init__(self, context: AppContext, bridge=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.context = context
        self.stats: latent.CodeStats | None = None
        self.z: np.ndarray | None = None
        self.request = 0  # numbers the live decodes
        self.shown_request = 0  # the number of the decode on screen
        self._generation = 0  # bumps when the model or data change; older results are dropped
        self._rng = np.random.default_rng()
        self.traversal_images = self.sample_images = None
        self._sampling = 0  # numbers the sample grids drawn; only the newest one may reach the screen
        self._sample_job: Job | None = None  # the denoising being watched, if any
        self.live = LatestOnly("latent-sliders", self)
        self.live.done.connect(self._on_decoded)
        self.live.failed.connect(lambda _tag, message, _tb: self._problem(message))

        # --- left: the decoded code, its buttons and sliders
        self.view = ImageGrid("Decoded code")
        self.view.setMinimumSize(220, 220)
        self.from_item_button = QPushButton("From selected item")
        self.from_item_button.setToolTip("Start from the code of the item picked on the map or in a browser")
        self.random_button = QPushButton("Random")
        self.random_button.setToolTip("A random code from a Gaussian fitted to the data's codes")
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Back to the mean code")
        self.from_item_button.clicked.connect(self.start_from_selected_item)
        self.random_button.clicked.connect(self.random_code)
        self.reset_button.clicked.connect(self.reset_code)
        buttons = QHBoxLayout()
        for b in (self.from_item_button, self.random_button, self.reset_button):
            buttons.addWidget(b)
        self.info = QLabel()
        self.info.setWordWrap(True)
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
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(3, 21)
        self.steps_spin.setValue(9)
        self.steps_spin.setSuffix(" steps")
        self.traverse_button = QPushButton("Traverse")
        self.traverse_button.clicked.connect(self.traverse)
        self.save_traversal_button = QPushButton("Save PNG…")
        self.save_traversal_button.clicked.connect(lambda: self.save_traversal())
        self.traversal_view = ImageGrid("Sweep each axis from −3σ to +3σ around the current code")
        traversal_box = QGroupBox("Traversal")
        row = QHBoxLayout()
        for w in (self.axis_combo, self.steps_spin, self.traverse_button, self.save_traversal_button):
            row.addWidget(w)
        row.addStretch(1)
        box = QVBoxLayout(traversal_box)
        box.addLayout(row)
        box.addWidget(self.traversal_view, 1)

        self.grid_combo = QComboBox()
        for side in (2, 4, 6, 8, 10):
            self.grid_combo.addItem(f"{side} × {side}", side)
        self.grid_combo.setCurrentIndex(2)
        self.temperature_spin = QDoubleSpinBox()
        self.temperature_spin.setRange(0.0, 3.0)
        self.temperature_spin.setSingleStep(0.1)
        self.temperature_spin.setValue(1.0)
        self.temperature_spin.setPrefix("temperature ")
        self.temperature_spin.setToolTip("Scales the prior's noise: below 1 safer, blander samples; above 1 wilder")
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
        self.sample_button.clicked.connect(self.sample)
        self.new_seed_button.clicked.connect(self.new_seed)
        self.save_samples_button.clicked.connect(lambda: self.save_samples())
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
        left_widget.setMaximumWidth(420)
        layout = QHBoxLayout(self)
        layout.addWidget(left_widget, 2)
        layout.addWidget(right, 3)

        context.model_changed.connect(lambda _m: self.refresh())
        context.data_changed.connect(lambda _d: self.refresh())
        context.current_index_changed.connect(lambda _i: self._update_buttons())
        self.refresh()

    # --- model and statistics ---------------------------------------------------------------
    @property
    def model(self):
        return self.context.model

    def refresh(self) -> None:
        """Start over for the context's model and data: measure the codes, then rebuild the sliders."""
        self._generation += 1
        self._cancel_sampling()
        self.stats = self.z = None
        self._update_buttons()
        if self.model is None:
            self._build_sliders()
            self.view.clear()
            self.info.setText("No model yet: train one, or open a checkpoint (File ▸ Open).")
            return
        self.info.setText("Measuring the data's codes…")
        generation = self._generation
        task = Task(latent.code_stats, self.model, self.context.data, parent=self)
        task.done.connect(lambda stats: self._on_stats(generation, stats))
        task.failed.connect(lambda message, _tb: self._problem(message) if generation == self._generation else None)
        task.start()

    def _on_stats(self, generation: int, stats: latent.CodeStats) -> None:
        if generation != self._generation:
            return
        self.stats = stats
        kind = "one slider per dimension" if stats.labels[0].startswith("z") else "sliders along principal directions"
        source = (f"{stats.count:,} codes of {self.context.data.name}" if stats.count
                  else "the prior N(0, I) (no codes of this data)")
        self.info.setText(f"{self.model.latent_dim}-dim latent, {kind}; ranges ±3σ of {source}.")
        self._build_sliders()
        self.axis_combo.clear()
        self.axis_combo.addItem("All axes", -1)
        for k, name in enumerate(stats.labels):
            self.axis_combo.addItem(name, k)
        self.axis_combo.setCurrentIndex(0 if len(stats.labels) <= 16 else 1)
        self._update_buttons()
        self.set_code(stats.mean, "mean code")
        self.traverse()
        if self.model.capabilities.samples:
            self.sample()

    def _build_sliders(self) -> None:
        while self.slider_grid.count():
            self.slider_grid.takeAt(0).widget().deleteLater()
        self.sliders, self.slider_values = [], []
        for k, name in enumerate(self.stats.labels if self.stats else []):
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
        ready = self.stats is not None
        data = self.context.data
        fits = data is not None and self.model is not None and tuple(data.image_shape) == self.model.image_shape
        item_ok = ready and fits and self.model.capabilities.encodes and 0 <= self.context.current_index < len(data)
        self.from_item_button.setEnabled(item_ok)
        for w in (self.random_button, self.reset_button, self.traverse_button, self.axis_combo, self.steps_spin):
            w.setEnabled(ready)
        can_sample = ready and self.model.capabilities.samples
        for w in (self.sample_button, self.new_seed_button, self.grid_combo, self.temperature_spin, self.seed_spin,
                  self.denoise_check):
            w.setEnabled(can_sample)
        self.denoise_check.setVisible(self.model is not None and self.model.capabilities.iterative)
        if self.model is not None and not self.model.capabilities.samples:
            self.samples_view.title.setText(f"{self.model.name} models have no prior to sample from")
        self.save_traversal_button.setEnabled(self.traversal_images is not None)
        self.save_samples_button.setEnabled(self.sample_images is not None)

    # --- the code and its sliders -----------------------------------------------------------
    def _slider_coord(self, k: int, pos: int) -> float:
        lo, hi = self.stats.ranges()[k]
        return float(lo + (hi - lo) * pos / SLIDER_STEPS)

    def _on_slider(self, k: int, pos: int) -> None:
        if self.stats is None or self.z is None:
            return
        coords = self.stats.coords(self.z)
        coords[k] = self._slider_coord(k, pos)
        self.z = self.stats.with_coords(self.z, coords)
        self.slider_values[k].setText(f"{coords[k] / self.stats.scales[k]:+.1f}σ")
        self._decode("edited code")

    def set_code(self, z: np.ndarray, what: str) -> None:
        """Show code ``z``: move the sliders to it (quietly) and decode it once."""
        self.z = np.asarray(z, np.float32).copy()
        coords = self.stats.coords(self.z)
        for k, (slider, value) in enumerate(zip(self.sliders, self.slider_values)):
            lo, hi = self.stats.ranges()[k]
            slider.blockSignals(True)
            slider.setValue(round((np.clip(coords[k], lo, hi) - lo) / (hi - lo) * SLIDER_STEPS))
            slider.blockSignals(False)
            value.setText(f"{coords[k] / self.stats.scales[k]:+.1f}σ")
        self._decode(what)

    def _decode(self, what: str) -> None:
        self.request += 1
        self.live.submit((self._generation, self.request, what), latent.decode_codes, self.model, self.z.copy())

    def _on_decoded(self, tag: tuple, images) -> None:
        generation, request, what = tag
        if generation != self._generation:
            return
        self.view.title.setText(f"Decoded: {what}")
        self.view.set_images(images)
        self.shown_request = request
        self.decoded.emit(request)

    def start_from_selected_item(self) -> None:
        index = self.context.current_index
        generation = self._generation
        task = Task(latent.encode_data, self.model, self.context.data, [index], parent=self)
        task.done.connect(lambda codes: self.set_code(codes[0], f"item {index}")
                          if generation == self._generation else None)
        task.failed.connect(lambda message, _tb: self._problem(message))
        task.start()

    def random_code(self) -> None:
        self.set_code(self.stats.random_code(self._rng), "random code")

    def reset_code(self) -> None:
        self.set_code(self.stats.mean, "mean code")

    # --- traversal and samples --------------------------------------------------------------
    def traverse(self) -> None:
        k = self.axis_combo.currentData()
        axes = list(range(len(self.stats.labels))) if k == -1 else [k]
        steps = self.steps_spin.value()
        codes = latent.traversal(self.stats, self.z, axes, steps)
        names = f"{self.stats.labels[axes[0]]} … {self.stats.labels[axes[-1]]}" if len(axes) > 1 else \
            self.stats.labels[axes[0]]
        generation = self._generation
        self.traversal_view.title.setText(f"Traversing {names}…")
        task = Task(latent.decode_codes, self.model, codes, parent=self)
        task.done.connect(lambda images: self._on_traversal(generation, images, steps, names))
        task.failed.connect(lambda message, _tb: self._problem(message))
        task.start()

    def _on_traversal(self, generation: int, images, steps: int, names: str) -> None:
        if generation != self._generation:
            return
        self.traversal_images, self._traversal_cols = images, steps
        self.traversal_view.set_images(images, steps)
        self.traversal_view.title.setText(f"Rows: {names}; columns −3σ → +3σ around the current code")
        self._update_buttons()

    def sample(self) -> None:
        """Draw the sample grid in the background; with "Show denoising" on, step by step. Replaces any grid
        still being drawn."""
        self._cancel_sampling()
        side, temperature, seed = self.grid_combo.currentData(), self.temperature_spin.value(), self.seed_spin.value()
        generation, sampling = self._generation, self._sampling
        args = (self.model, side * side, temperature, seed)
        if self.denoise_check.isChecked() and self.model.capabilities.iterative:
            show_step = on_ui_thread(self._on_denoise_step)

            def on_step(t, step, steps, images):  # on the worker thread
                show_step(sampling, t, step, steps, images, side)
            self.samples_view.title.setText("Denoising…")
            task = self._sample_job = Job(latent.denoise_grid, *args, on_step, parent=self)
        else:
            self.samples_view.title.setText("Sampling…")
            task = Task(latent.sample_grid, *args, parent=self)
        task.done.connect(lambda images: self._on_samples(generation, sampling, images, side, temperature, seed))
        task.failed.connect(lambda message, _tb: self._problem(message))
        task.start()

    def _cancel_sampling(self) -> None:
        self._sampling += 1
        if self._sample_job is not None:
            self._sample_job.cancel()
            self._sample_job = None

    def _on_denoise_step(self, sampling: int, t: int, step: int, steps: int, images, side: int) -> None:
        if sampling != self._sampling:
            return  # a step of a grid drawn over or cancelled
        self.samples_view.set_images(images, side)
        self.samples_view.title.setText(f"Denoising: step {step}/{steps}, t = {t} (predicted clean images)")
        self.denoise_shown.emit(step, steps)

    def new_seed(self) -> None:
        self.seed_spin.setValue(int(self._rng.integers(0, 2**31 - 1)))
        self.sample()

    def _on_samples(self, generation: int, sampling: int, images, side: int, temperature: float, seed: int) -> None:
        if generation != self._generation or sampling != self._sampling:
            return
        self._sample_job = None
        self.sample_images, self._sample_cols = images, side
        self.samples_view.set_images(images, side)
        self.samples_view.title.setText(f"{len(images)} samples from the prior, temperature {temperature:g}, seed {seed}")
        self._update_buttons()

    def save_traversal(self, path: str | Path | None = None) -> Path | None:
        return self._save(path, self.traversal_images, getattr(self, "_traversal_cols", 1), "traversal.png")

    def save_samples(self, path: str | Path | None = None) -> Path | None:
        return self._save(path, self.sample_images, getattr(self, "_sample_cols", 1), "samples.png")

    def _save(self, path, images, cols: int, suggestion: str) -> Path | None:
        if images is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save grid as PNG", suggestion, PNG_FILTER)
            if not path:
                return None
        try:
            saved = save_grid(Path(path), images, cols)
        except OSError as exc:
            self._problem(f"could not write {path}: {exc}")
            return None
        self.context.status.emit(f"Saved {saved}")
        return saved

    def _problem(self, message: str) -> None:
        self.info.setText(message)
        self.context.status.emit(message)
