"""The embedding map panel: every item of the data set drawn at its model's code projected to the
plane, so that similar images sit together (the lecture's picture), with an inspector, named
selections for the morphing panel, and exports.

Encoding and projecting run as a background ``Job`` (progress bar, Cancel); a new model, data set or
projection cancels the job under way and starts a fresh one. Without a model, the map is of pixel
space (with a note saying so), which is also the baseline that shows what a model adds. Work for a
hidden panel waits until it is shown. Models that sample can instead be mapped by generated samples
(z from the prior, decoded; the default for models that do not reconstruct, e.g. GANs, whose encoder is
slow inversion by optimisation); clicks on such a map inspect the sample, not a data-set item.
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QFileDialog, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QListWidget, QListWidgetItem, QMenu, QProgressBar, QPushButton, QSpinBox,
                               QSplitter, QToolButton, QVBoxLayout, QWidget)

from core.cache import cache_root
from core.data import ImageData
from core.embedding import (GENERATED_SAMPLES, Embedding, compute_generated_map, compute_map, inspect_item,
                            knn_accuracy, label_names)
from core.export import write_coordinates_csv, write_projector
from core.projection import METHODS
from models import GenerativeModel

from .context import AppContext
from .inspector import Inspector
from .background.jobs import Job
from .map_view import MapView
from .settings import app_settings, read_json, write_json
from .background.tasks import Task

NEIGHBOURS = 8
SETTINGS_KEY = "map/view"


def _map_job(model: GenerativeModel | None, data: ImageData, method: str, *, progress, cancel):
    """On the job's thread: a private eval copy of the model, the map, and how well it separates classes."""
    model = copy.deepcopy(model).eval() if model is not None else None
    embedding = compute_map(model, data, method, cache_dir=cache_root(), progress=progress, cancel=cancel)
    accuracy = None
    if data.labels is not None and len(data) >= 20:
        train_idx, val_idx = data.split()
        accuracy = knn_accuracy(embedding.coords, data.labels, train_idx, val_idx)
    return model, embedding, accuracy


def _generated_job(model: GenerativeModel, method: str, n: int, *, progress, cancel):
    """On the job's thread: a private eval copy of the model and the map of ``n`` of its samples."""
    model = copy.deepcopy(model).eval()
    return model, compute_generated_map(model, method, n, cache_dir=cache_root(), progress=progress,
                                        cancel=cancel), None


class MapPanel(QWidget):
    def __init__(self, context: AppContext, bridge=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.context = context
        self.embedding: Embedding | None = None
        self.model: GenerativeModel | None = None  # the private copy the map was computed with
        self.names: list[str] = []
        self.job: Job | None = None
        self.selection = np.zeros(0, np.int64)
        self._stale = False
        self._note = ""  # why the map is not of the model's latent space, if it is not
        self._method_chosen = False
        self._source_chosen = False
        self._inspect_generation = 0
        self._build()
        self._restore_settings()
        context.data_changed.connect(lambda _data: self._on_data_changed())
        context.model_changed.connect(lambda _model: self._on_model_changed())
        context.selections_changed.connect(self._fill_selections)
        context.current_index_changed.connect(lambda index: None if self.generated else self._inspect(index))
        if context.data is not None:
            self._on_data_changed()

    # --- construction ---------------------------------------------------------------------
    def _build(self) -> None:
        self.method_combo = QComboBox()
        for key, title in METHODS.items():
            self.method_combo.addItem(title, key)
        self.method_combo.setToolTip("PCA is instant; UMAP separates classes best; t-SNE is slow on large sets")
        self.method_combo.activated.connect(self._on_method_chosen)
        self.source_combo = QComboBox()
        self.source_combo.addItem("Data set codes", "data")
        self.source_combo.addItem("Generated samples", "generated")
        self.source_combo.setToolTip("Map the data set's codes (a GAN inverts each image: slow), or samples "
                                     "the model generates from random z")
        self.source_combo.activated.connect(self._on_source_chosen)
        self.samples_spin = QSpinBox()
        self.samples_spin.setRange(100, 20000)
        self.samples_spin.setSingleStep(500)
        self.samples_spin.setValue(GENERATED_SAMPLES)
        self.samples_spin.setSuffix(" samples")
        self.samples_spin.setToolTip("How many samples to generate for the map")
        self.samples_spin.editingFinished.connect(self._on_samples_changed)
        self.source_box = QWidget()
        source_row = QHBoxLayout(self.source_box)
        source_row.setContentsMargins(8, 0, 0, 0)
        source_row.addWidget(QLabel("Map"))
        source_row.addWidget(self.source_combo)
        source_row.addWidget(self.samples_spin)
        self.source_box.hide()
        self.tool_buttons = QButtonGroup(self)
        tools = QHBoxLayout()
        tools.setSpacing(0)
        for key, title, tip in (("pan", "Pan", "Drag to pan, wheel to zoom, double-click to see everything"),
                                ("rect", "Rectangle", "Drag a rectangle to select points (Shift adds)"),
                                ("lasso", "Lasso", "Draw around points to select them (Shift adds)")):
            button = QToolButton()
            button.setText(title)
            button.setToolTip(tip)
            button.setCheckable(True)
            button.setProperty("tool", key)
            button.setChecked(key == "pan")
            self.tool_buttons.addButton(button)
            tools.addWidget(button)
        self.tool_buttons.buttonClicked.connect(lambda b: self.set_tool(b.property("tool")))
        self.images_check = QCheckBox("Images")
        self.images_check.setChecked(True)
        self.images_check.setToolTip("Show the images themselves instead of dots when zoomed in")
        self.images_check.toggled.connect(lambda on: self.view.set_show_images(on))
        self.size_spin = QSpinBox()
        self.size_spin.setRange(16, 96)
        self.size_spin.setSingleStep(4)
        self.size_spin.setValue(36)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Image size on the map")
        self.size_spin.valueChanged.connect(lambda v: self.view.set_thumbnail_size(v))
        fit_button = QPushButton("Fit")
        fit_button.setToolTip("Show the whole map")
        fit_button.clicked.connect(lambda: self.view.fit())
        self.export_button = QToolButton()
        self.export_button.setText("Export")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        menu.addAction("Map as PNG…", self._ask_export_png)
        menu.addAction("Coordinates as CSV…", self._ask_export_csv)
        menu.addAction("Embedding Projector files…", self._ask_export_projector)
        self.export_button.setMenu(menu)
        top = QHBoxLayout()
        top.addWidget(QLabel("Projection"))
        top.addWidget(self.method_combo)
        top.addWidget(self.source_box)
        top.addSpacing(8)
        top.addLayout(tools)
        top.addSpacing(8)
        top.addWidget(self.images_check)
        top.addWidget(self.size_spin)
        top.addWidget(fit_button)
        top.addStretch(1)
        top.addWidget(self.export_button)

        self.banner = QLabel("")
        self.banner.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        self.progress_box = QWidget()
        self.progress_box.setLayout(progress_row)
        progress_row.setContentsMargins(0, 0, 0, 0)
        self.progress_box.hide()

        self.view = MapView()
        self.view.point_clicked.connect(self._on_point_clicked)
        self.view.selection_drawn.connect(self._on_selection_drawn)
        self.inspector = Inspector()
        self.inspector.neighbour_clicked.connect(self._on_point_clicked)

        selections = QGroupBox("Selections")
        self.selection_label = QLabel("Select points with the rectangle or lasso tool.")
        self.selection_label.setWordWrap(True)
        self.selection_name = QLineEdit()
        self.selection_name.setPlaceholderText("name, e.g. smiling")
        self.save_selection_button = QPushButton("Save selection")
        self.save_selection_button.clicked.connect(self.save_selection)
        self.save_selection_button.setEnabled(False)
        self.selection_list = QListWidget()
        self.selection_list.setMaximumHeight(110)
        self.selection_list.currentItemChanged.connect(self._on_saved_selection_picked)
        remove = QPushButton("Remove")
        remove.clicked.connect(self._remove_selection)
        name_row = QHBoxLayout()
        name_row.addWidget(self.selection_name, 1)
        name_row.addWidget(self.save_selection_button)
        box = QVBoxLayout(selections)
        box.addWidget(self.selection_label)
        box.addLayout(name_row)
        box.addWidget(self.selection_list)
        box.addWidget(remove, 0, Qt.AlignmentFlag.AlignRight)

        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.inspector, 1)
        side_layout.addWidget(selections)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.view)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([700, 300])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.banner)
        layout.addWidget(self.progress_box)
        layout.addWidget(splitter, 1)

    def _restore_settings(self) -> None:
        """The view as the user left it: images on or off, their size, and a projection they chose."""
        saved = read_json(app_settings(), SETTINGS_KEY, {})
        self.images_check.setChecked(saved.get("images") is not False)
        if isinstance(saved.get("thumbnail_px"), int):
            self.size_spin.setValue(saved["thumbnail_px"])
        if saved.get("method") in METHODS:
            self.method_combo.setCurrentIndex(self.method_combo.findData(saved["method"]))
            self._method_chosen = True

    def save_settings(self) -> None:
        settings = app_settings()
        write_json(settings, SETTINGS_KEY, {"images": self.images_check.isChecked(), "thumbnail_px": self.size_spin.value(),
                                            "method": self.method if self._method_chosen else None})
        settings.sync()

    # --- what to map ----------------------------------------------------------------------
    @property
    def method(self) -> str:
        return self.method_combo.currentData()

    def set_method(self, method: str) -> None:
        """Choose the projection (as if the user had) and map again."""
        self.method_combo.setCurrentIndex(self.method_combo.findData(method))
        self._on_method_chosen()

    def _on_method_chosen(self, *_args) -> None:
        self._method_chosen = True
        self.refresh()

    @property
    def source(self) -> str:
        """What is mapped: "data" (the data set's codes) or "generated" (samples from the prior)."""
        model = self.context.model
        return self.source_combo.currentData() if model is not None and model.capabilities.samples else "data"

    def set_source(self, source: str) -> None:
        """Choose what to map (as if the user had) and map again."""
        self.source_combo.setCurrentIndex(self.source_combo.findData(source))
        self._on_source_chosen()

    def _on_source_chosen(self, *_args) -> None:
        self._source_chosen = True
        self.samples_spin.setVisible(self.source == "generated")
        self.refresh()

    def _on_samples_changed(self) -> None:
        if self.source == "generated" and (self.embedding is None or len(self.embedding.codes) != self.samples_spin.value()):
            self.refresh()

    @property
    def generated(self) -> bool:
        """Whether the map on show is of generated samples (its points are not data-set items)."""
        return self.embedding is not None and self.embedding.space == "generated"

    def _on_point_clicked(self, index: int) -> None:
        if self.generated:
            self._inspect(index)
        else:
            self.context.set_current_index(index)

    def _on_data_changed(self) -> None:
        data = self.context.data
        self.names = label_names(data) if data is not None else []
        self.embedding = None
        self._set_selection(np.zeros(0, np.int64))
        self.inspector.clear()
        self.view.clear_map()
        self._fill_selections()
        self.refresh()

    def _on_model_changed(self) -> None:
        if self.context.model is not None and not self._method_chosen:
            self.method_combo.setCurrentIndex(self.method_combo.findData("umap"))  # where a model pays off
        model = self.context.model
        self.source_box.setVisible(model is not None and model.capabilities.samples)
        if model is not None and not self._source_chosen:  # inverting a data set through a GAN is slow
            self.source_combo.setCurrentIndex(self.source_combo.findData("data" if model.capabilities.reconstructs else "generated"))
        self.samples_spin.setVisible(self.source == "generated")
        self.refresh()

    def _usable_model(self) -> tuple[GenerativeModel | None, str]:
        """The context's model if it can map this data set, else None and why not."""
        model, data = self.context.model, self.context.data
        if model is None:
            return None, "No model yet: this is pixel space. Train or open a model to see what it learned."
        if not model.capabilities.encodes:
            return None, f"{model.name} models have no encoder: showing pixel space."
        if tuple(model.image_shape) != tuple(data.image_shape):
            return None, (f"The model takes {'×'.join(map(str, model.image_shape))} images, {data.name} has "
                          f"{'×'.join(map(str, data.image_shape))}: showing pixel space.")
        return model, ""

    def refresh(self, force: bool = False) -> None:
        """Map the current data set through the current model (cancelling any map under way)."""
        self.cancel()
        if self.context.data is None:
            self.banner.setText("Open a data set to see its map.")
            return
        if not force and not self.isVisible():
            self._stale = True
            return
        self._stale = False
        if self.source == "generated":
            self._note = ""
            job = Job(_generated_job, self.context.model, self.method, self.samples_spin.value(), parent=self)
        else:
            model, self._note = self._usable_model()
            job = Job(_map_job, model, self.context.data, self.method, parent=self)
        job.progress.connect(self._on_progress)
        job.done.connect(lambda result, job=job: self._on_map(job, *result))
        job.failed.connect(lambda message, _tb, job=job: self._on_map_failed(job, message))
        job.cancelled.connect(lambda job=job: job.deleteLater())
        self.job = job
        self.progress.setRange(0, 0)
        self.progress.setFormat("starting…")
        self.progress_box.show()
        job.start()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.job = None
        self.progress_box.hide()

    @property
    def busy(self) -> bool:
        return self.job is not None

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def _on_progress(self, fraction: float, text: str) -> None:
        if fraction < 0:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(1000 * fraction))
        self.progress.setFormat(text)

    def _on_map(self, job: Job, model: GenerativeModel | None, embedding: Embedding, accuracy: float | None) -> None:
        job.deleteLater()
        if job is not self.job:
            return
        self.job = None
        self.progress_box.hide()
        was_generated = self.generated
        self.model, self.embedding = model, embedding
        data = self.context.data
        if was_generated or self.generated:  # selections of samples are not selections of items
            self._set_selection(np.zeros(0, np.int64))
        name = (f"{getattr(self.context.model, 'name', 'the model')}"
                f"{f' ({self.context.checkpoint_path.parent.name})' if self.context.checkpoint_path else ''}")
        if self.generated:
            self.view.set_map(embedding.coords, embedding.images, None, None, self.size_spin.value())
            self.view.set_show_images(self.images_check.isChecked())
            self.banner.setText(f"Generated samples of {name} · {METHODS[embedding.method]} of their "
                                f"{embedding.codes.shape[1]}-d z · {len(embedding.codes):,} samples "
                                "(click one to see it and its z)")
            self.banner.setStyleSheet("")
            self.inspector.clear()
            return
        self.view.set_map(embedding.coords, data.images, data.labels, data.class_names, self.size_spin.value())
        self.view.set_show_images(self.images_check.isChecked())
        self.view.set_selection(self.selection)
        what = f"Latent space of {name}" if embedding.space == "latent" else "Pixel space"
        text = f"{what} · {METHODS[embedding.method]} of {embedding.codes.shape[1]}-d codes · {len(data):,} items"
        if accuracy is not None:
            text += f" · classes separate: 5-NN accuracy {accuracy:.0%} on held-out items"
        self.banner.setText(text + (f"\n{self._note}" if self._note else ""))
        self.banner.setStyleSheet("")
        if 0 <= self.context.current_index < len(data):
            self._inspect(self.context.current_index)
        else:
            self.inspector.clear()

    def _on_map_failed(self, job: Job, message: str) -> None:
        job.deleteLater()
        if job is not self.job:
            return
        self.job = None
        self.progress_box.hide()
        self.banner.setText(f"Could not make the map: {message}")
        self.banner.setStyleSheet("color: #b3261e;")
        self.context.status.emit(f"Map: {message}")

    # --- the inspector --------------------------------------------------------------------
    def _inspect(self, index: int) -> None:
        data = self.context.data
        if self.embedding is None or data is None or not 0 <= index < len(self.embedding.codes):
            return
        self._inspect_generation += 1
        generation = self._inspect_generation
        task = Task(inspect_item, self.model, data, self.embedding, index, NEIGHBOURS, parent=self)
        task.done.connect(lambda view: self._show_item(generation, view))
        task.failed.connect(lambda message, _tb: self.context.status.emit(f"Inspector: {message}"))
        task.start()

    def _show_item(self, generation: int, view) -> None:
        if generation != self._inspect_generation or self.context.data is None:
            return
        if self.generated:
            self.inspector.show_item(view, self.embedding.images, [""] * len(self.embedding.codes))
            self.inspector.header.setText(f"Generated sample #{view.index}")
        else:
            self.inspector.show_item(view, self.context.data.images, self.names)
        self.inspector.original.title.setText("generated" if self.generated else "original")
        self.view.set_current(view.index, view.neighbours)

    # --- selections -----------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        self.view.viewbox.tool = tool
        for button in self.tool_buttons.buttons():
            button.setChecked(button.property("tool") == tool)

    def _on_selection_drawn(self, indices: np.ndarray, add: bool) -> None:
        self._set_selection(np.union1d(self.selection, indices) if add else indices)

    def _set_selection(self, indices: np.ndarray) -> None:
        self.selection = np.asarray(indices, np.int64)
        self.view.set_selection(self.selection)
        n = len(self.selection)
        self.save_selection_button.setEnabled(n > 0 and not self.generated)  # selections name data-set items
        if n == 0:
            self.selection_label.setText("Select points with the rectangle or lasso tool.")
            return
        text = f"{n:,} points selected"
        data = self.context.data
        if data is not None and data.labels is not None and not self.generated:
            values, counts = np.unique(data.labels[self.selection], return_counts=True)
            top = np.argsort(-counts, kind="stable")[:3]
            text += " — " + ", ".join(f"{self.view.names[values[t]]} ×{counts[t]}" for t in top)
        self.selection_label.setText(text)
        if not self.selection_name.text():
            self.selection_name.setText(f"selection {len(self.context.selections) + 1}")

    def save_selection(self) -> None:
        name = self.selection_name.text().strip() or f"selection {len(self.context.selections) + 1}"
        if len(self.selection):
            self.context.add_selection(name, self.selection)
            self.context.status.emit(f"Saved selection {name!r}: {len(self.selection):,} items")
            self.selection_name.clear()

    def _fill_selections(self) -> None:
        self.selection_list.blockSignals(True)
        self.selection_list.clear()
        for name, indices in self.context.selections.items():
            item = QListWidgetItem(f"{name} ({len(indices):,})")
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.selection_list.addItem(item)
        self.selection_list.blockSignals(False)

    def _on_saved_selection_picked(self, item: QListWidgetItem | None, _previous=None) -> None:
        if item is not None:
            indices = self.context.selections.get(item.data(Qt.ItemDataRole.UserRole))
            if indices is not None:
                self._set_selection(indices)

    def _remove_selection(self) -> None:
        item = self.selection_list.currentItem()
        if item is not None:
            self.context.remove_selection(item.data(Qt.ItemDataRole.UserRole))

    # --- export ---------------------------------------------------------------------------
    def export_png(self, path: Path) -> Path:
        if not self.view.grab().save(str(path)):
            raise OSError(f"could not write {path}")
        return Path(path)

    def export_csv(self, path: Path) -> Path:
        return write_coordinates_csv(path, self.embedding.coords, self.context.data)

    def export_projector(self, folder: Path) -> Task:
        """Write the projector files off the UI thread; the returned task reports the paths."""
        name = f"{getattr(self.model, 'name', 'pixel')} codes"
        task = Task(write_projector, Path(folder), self.embedding.codes, self.context.data, name, parent=self)
        task.done.connect(lambda paths: self.context.status.emit(f"Wrote the Embedding Projector files in {folder}"))
        task.failed.connect(lambda message, _tb: self.context.status.emit(f"Export failed: {message}"))
        return task.start()

    def _ask_export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the map as PNG", "map.png", "PNG images (*.png)")
        if path:
            try:
                self.context.status.emit(f"Wrote {self.export_png(Path(path))}")
            except OSError as exc:
                self.context.status.emit(f"Export failed: {exc}")

    def _ask_export_csv(self) -> None:
        if self.embedding is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export coordinates as CSV", "map.csv", "CSV files (*.csv)")
        if path:
            try:
                self.context.status.emit(f"Wrote {self.export_csv(Path(path))}")
            except Exception as exc:  # LatentExplorerError: a clear one-line message
                self.context.status.emit(f"Export failed: {exc}")

    def _ask_export_projector(self) -> None:
        if self.embedding is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Folder for the Embedding Projector files")
        if folder:
            self.export_projector(Path(folder))

    def boundary_item(self, count: int) -> int:
        """An item where two classes meet on the map: its ``count`` nearest items on the map have the
        largest second-most-common label (any item for unlabelled data)."""
        data, coords = self.context.data, self.embedding.coords
        if data.labels is None or self.generated:
            return 0
        from scipy.spatial import cKDTree
        candidates = np.random.default_rng(0).permutation(len(data))[:300]
        _, near = cKDTree(coords).query(coords[candidates], k=min(count, len(data)))
        second = [np.sort(np.bincount(data.labels[row]))[-2] if len(np.unique(data.labels[row])) > 1 else 0
                  for row in np.atleast_2d(near)]
        return int(candidates[int(np.argmax(second))])
