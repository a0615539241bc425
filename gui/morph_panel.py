"""Morph panel: interpolate between two pictures' codes, scrub through the morph, and make and apply
attribute vectors (mean code of group A minus mean code of group B: the lecture's "smile vector").

A and B come from the item picked on the map, a small data browser, or an image file (encoded into the
model's image shape). Encoding and vectors run as background ``Task``s; the strip, the scrub and
strength sliders decode live on latest-value-wins threads. With no model, "Faces demo" loads the
Olivetti faces and trains a face VAE for half a minute: faces are this panel's default playground.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDialog, QFileDialog, QGridLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QListWidget, QListWidgetItem, QPushButton, QSlider, QSpinBox, QVBoxLayout,
                               QWidget)

from core import latent
from core.data import IMAGE_SUFFIXES
from core.errors import LatentExplorerError
from core.imaging import export_scale, load_image_file, save_gif, save_grid
from core.quicktrain import faces_demo

from .context import AppContext
from .data_browser import DataBrowser, item_label
from .image_grid import ImageGrid
from .background.latest import LatestOnly
from .background.tasks import Task

SCRUB_STEPS = 100
STRENGTH_RANGE = 300  # the strength slider runs from -3.00 to +3.00 in hundredths
GROUP_LIMIT = 1000  # items per group encoded for an attribute vector (a random subset of larger groups)
FACES_DEMO_S = 25.0
VECTOR_FILTER = "Attribute vectors (*.json)"
IMAGE_FILTER = f"Images ({' '.join('*' + s for s in sorted(IMAGE_SUFFIXES))});;All files (*)"


@dataclass
class Endpoint:
    """One end of the morph: the picture as picked, where it came from, and its code once encoded."""
    image: torch.Tensor  # uint8 (1, C, H, W)
    label: str
    code: np.ndarray | None = None


def group_codes(model, data, indices_a: np.ndarray, indices_b: np.ndarray, seed: int = 0):
    """Codes of two groups of items (each capped at ``GROUP_LIMIT`` random items) and the model's fingerprint."""
    rng = np.random.default_rng(seed)
    picked = [np.sort(rng.choice(ix, GROUP_LIMIT, replace=False)) if len(ix) > GROUP_LIMIT else ix
              for ix in (indices_a, indices_b)]
    if min(len(ix) for ix in picked) == 0:
        raise LatentExplorerError("both groups need at least one item")
    codes_a, codes_b = (latent.encode_data(model, data, ix) for ix in picked)
    return latent.attribute_vector(codes_a, codes_b), latent.model_fingerprint(model)


def vectors_from_file(path: Path, model):
    """The vectors in ``path`` (checked against the model's latent size) and the names of those made with
    another model."""
    vectors = latent.load_vectors(path, model.latent_dim)
    fingerprint = latent.model_fingerprint(model)
    return vectors, [v.name for v in vectors if v.fingerprint and v.fingerprint != fingerprint]


class EndpointPicker(QGroupBox):
    """A or B: a thumbnail and three ways to pick a picture."""

    def __init__(self, name: str, parent: QWidget | None = None):
        super().__init__(name, parent)
        self.view = ImageGrid("")
        self.view.setFixedSize(132, 132)
        self.source = QLabel("not picked")
        self.source.setWordWrap(True)
        self.item_button = QPushButton("Selected item")
        self.item_button.setToolTip("The item last picked on the map")
        self.browse_button = QPushButton("Browse…")
        self.file_button = QPushButton("Image file…")
        buttons = QVBoxLayout()
        for b in (self.item_button, self.browse_button, self.file_button):
            buttons.addWidget(b)
        buttons.addWidget(self.source)
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.addWidget(self.view)
        layout.addLayout(buttons)


class MorphPanel(QWidget):
    def __init__(self, context: AppContext, bridge=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.context = context
        self.ends: dict[str, Endpoint | None] = {"A": None, "B": None}
        self.vectors: list[latent.AttributeVector] = []
        self.strip_images: torch.Tensor | None = None
        self.vector_images: torch.Tensor | None = None  # A and A + strength × vector, as on screen
        self._generation = 0
        self.strip_live = LatestOnly("morph-strip", self)  # in order, newest wins: no stale strip on top
        self.strip_live.done.connect(self._on_strip)
        self.scrub_live = LatestOnly("morph-scrub", self)
        self.scrub_live.done.connect(self._on_scrubbed)
        self.vector_live = LatestOnly("morph-vector", self)
        self.vector_live.done.connect(self._on_vector_applied)
        for runner in (self.strip_live, self.scrub_live, self.vector_live):
            runner.failed.connect(lambda _tag, message, _tb: self._problem(message))

        # --- no model: the faces demo
        self.demo_button = QPushButton("Faces demo")
        self.demo_button.setToolTip(f"Load the Olivetti faces and train a face VAE for {FACES_DEMO_S:.0f} s")
        self.demo_button.clicked.connect(lambda: self.start_faces_demo())
        self.info = QLabel()
        self.info.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.info, 1)
        top.addWidget(self.demo_button)

        # --- A, B and the strip
        self.pickers = {name: EndpointPicker(name) for name in "AB"}
        for name, picker in self.pickers.items():
            picker.item_button.clicked.connect(lambda _c=False, n=name: self.pick_item(n, self.context.current_index))
            picker.browse_button.clicked.connect(lambda _c=False, n=name: self.browse(n))
            picker.file_button.clicked.connect(lambda _c=False, n=name: self.pick_file(n))
        self.method_combo = QComboBox()
        self.method_combo.addItem("Linear", "linear")
        self.method_combo.addItem("Spherical", "spherical")
        self.method_combo.setToolTip("Spherical keeps the code's norm on a smooth path, away from the prior's "
                                     "empty centre")
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(2, 24)
        self.steps_spin.setValue(8)
        self.steps_spin.setSuffix(" steps")
        self.save_png_button = QPushButton("Save PNG…")
        self.save_gif_button = QPushButton("Save GIF…")
        self.method_combo.currentIndexChanged.connect(lambda _i: self._morph_changed())
        self.steps_spin.valueChanged.connect(lambda _v: self.update_strip())
        self.save_png_button.clicked.connect(lambda: self.save_strip_png())
        self.save_gif_button.clicked.connect(lambda: self.save_strip_gif())
        strip_controls = QVBoxLayout()
        for w in (self.method_combo, self.steps_spin, self.save_png_button, self.save_gif_button):
            strip_controls.addWidget(w)
        strip_controls.addStretch(1)
        ends = QHBoxLayout()
        ends.addWidget(self.pickers["A"])
        ends.addWidget(self.pickers["B"])
        ends.addLayout(strip_controls)
        ends.addStretch(1)
        self.strip_view = ImageGrid("Pick A and B")
        self.strip_view.setMinimumHeight(120)

        # --- scrub
        self.scrub_view = ImageGrid("Morph")
        self.scrub_view.setMinimumSize(220, 220)
        self.scrub_slider = QSlider(Qt.Orientation.Horizontal)
        self.scrub_slider.setRange(0, SCRUB_STEPS)
        self.scrub_slider.setValue(SCRUB_STEPS // 2)
        self.scrub_slider.valueChanged.connect(lambda _v: self.update_scrub())
        scrub_box = QGroupBox("Scrub A → B")
        box = QVBoxLayout(scrub_box)
        box.addWidget(self.scrub_view, 1)
        box.addWidget(self.scrub_slider)

        # --- attribute vectors
        self.group_combos = {name: QComboBox() for name in "AB"}
        self.vector_name = QLineEdit()
        self.vector_name.setPlaceholderText("name (default: A − B)")
        self.make_button = QPushButton("Make vector")
        self.make_button.setToolTip("Mean code of group A minus mean code of group B")
        self.make_button.clicked.connect(self.make_vector)
        self.vector_list = QListWidget()
        self.vector_list.setToolTip("Double-click a name to rename it")
        self.vector_list.itemChanged.connect(self._on_vector_renamed)
        self.vector_list.currentRowChanged.connect(lambda _r: self.update_vector_result())
        self.load_button = QPushButton("Load…")
        self.save_button = QPushButton("Save…")
        self.remove_button = QPushButton("Remove")
        self.load_button.clicked.connect(lambda: self.load_vectors())
        self.save_button.clicked.connect(lambda: self.save_vectors())
        self.remove_button.clicked.connect(self.remove_vector)
        self.strength_slider = QSlider(Qt.Orientation.Horizontal)
        self.strength_slider.setRange(-STRENGTH_RANGE, STRENGTH_RANGE)
        self.strength_slider.setValue(100)
        self.strength_label = QLabel()
        self.strength_slider.valueChanged.connect(lambda _v: self.update_vector_result())
        self.vector_view = ImageGrid("Make or load a vector: it is applied to A")
        self.vector_view.setMinimumHeight(140)
        vector_box = QGroupBox("Attribute vectors")
        grid = QGridLayout(vector_box)
        grid.addWidget(QLabel("Group A"), 0, 0)
        grid.addWidget(self.group_combos["A"], 0, 1, 1, 2)
        grid.addWidget(QLabel("minus B"), 1, 0)
        grid.addWidget(self.group_combos["B"], 1, 1, 1, 2)
        grid.addWidget(self.vector_name, 2, 0, 1, 2)
        grid.addWidget(self.make_button, 2, 2)
        grid.addWidget(self.vector_list, 3, 0, 1, 3)
        row = QHBoxLayout()
        for b in (self.load_button, self.save_button, self.remove_button):
            row.addWidget(b)
        grid.addLayout(row, 4, 0, 1, 3)
        grid.addWidget(QLabel("Strength"), 5, 0)
        grid.addWidget(self.strength_slider, 5, 1)
        grid.addWidget(self.strength_label, 5, 2)
        grid.addWidget(self.vector_view, 6, 0, 1, 3)
        grid.setRowStretch(6, 1)

        bottom = QHBoxLayout()
        bottom.addWidget(scrub_box, 1)
        bottom.addWidget(vector_box, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(ends)
        layout.addWidget(self.strip_view, 2)
        layout.addLayout(bottom, 3)

        context.model_changed.connect(lambda _m: self.refresh())
        context.data_changed.connect(lambda _d: self.refresh())
        context.selections_changed.connect(self._fill_groups)
        context.current_index_changed.connect(lambda _i: self._update_buttons())
        self.refresh()

    # --- state ------------------------------------------------------------------------------
    @property
    def model(self):
        return self.context.model

    @property
    def data_fits(self) -> bool:
        data = self.context.data
        return data is not None and self.model is not None and tuple(data.image_shape) == self.model.image_shape

    @property
    def codes(self) -> tuple[np.ndarray, np.ndarray] | None:
        a, b = self.ends["A"], self.ends["B"]
        return (a.code, b.code) if a and b and a.code is not None and b.code is not None else None

    def refresh(self) -> None:
        """Start over for the context's model and data; default A and B are two different people/classes."""
        self._generation += 1
        self.ends = {"A": None, "B": None}
        self.strip_images = self.vector_images = None
        for picker in self.pickers.values():
            picker.view.clear()
            picker.source.setText("not picked")
        for view in (self.strip_view, self.scrub_view, self.vector_view):
            view.clear()
        self.strip_view.title.setText("Pick A and B")
        self._fill_groups()
        self._update_buttons()
        if self.model is None:
            self.info.setText("No model yet: train one, open a checkpoint, or try the faces demo.")
            return
        if not self.model.capabilities.encodes:
            self.info.setText(f"{self.model.name} models cannot encode pictures, so there is nothing to morph.")
            return
        self.info.setText(f"Model: {self.model.name}, "
                          f"{self.model.latent_dim}-dim latent.")
        if self.data_fits:
            data = self.context.data
            self.pick_item("A", 0)
            self.pick_item("B", self._far_item(data))

    @staticmethod
    def _far_item(data) -> int:
        """An item a quarter of the way in, or the first with another label than item 0."""
        candidate = len(data) // 4
        if data.labels is not None and data.labels[candidate] == data.labels[0]:
            other = np.flatnonzero(data.labels != data.labels[0])
            candidate = int(other[0]) if len(other) else candidate
        return candidate

    def _update_buttons(self) -> None:
        encodes = self.model is not None and self.model.capabilities.encodes
        data = self.context.data
        for picker in self.pickers.values():
            picker.item_button.setEnabled(encodes and self.data_fits and 0 <= self.context.current_index < len(data))
            picker.browse_button.setEnabled(encodes and self.data_fits)
            picker.file_button.setEnabled(encodes)
        have_strip = self.strip_images is not None
        self.save_png_button.setEnabled(have_strip)
        self.save_gif_button.setEnabled(have_strip)
        groups_ok = encodes and self.data_fits and self.group_combos["A"].count() > 1
        self.make_button.setEnabled(groups_ok)
        self.save_button.setEnabled(bool(self.vectors))
        self.remove_button.setEnabled(self.vector_list.currentRow() >= 0)
        self.load_button.setEnabled(self.model is not None)
        self.demo_button.setVisible(self.model is None)
        self.strength_label.setText(f"{self.strength_slider.value() / 100:+.2f}")

    # --- picking A and B --------------------------------------------------------------------
    def pick_item(self, name: str, index: int) -> None:
        data = self.context.data
        if not self.data_fits or not 0 <= index < len(data):
            return
        self._set_endpoint(name, Endpoint(data.images[index:index + 1].clone(), item_label(data, index)))

    def browse(self, name: str) -> None:
        dialog = DataBrowser(self.context.data, f"Pick {name}", self)
        if self.context.current_index >= 0:
            dialog.select_item(self.context.current_index)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.chosen is not None:
            self.pick_item(name, dialog.chosen)

    def pick_file(self, name: str, path: str | Path | None = None) -> None:
        """Use a picture from disk as A or B, fitted to the model's image shape."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, f"Image file for {name}", "", IMAGE_FILTER)
            if not path:
                return
        path = Path(path)
        try:
            image = load_image_file(path, self.model.image_shape)
        except LatentExplorerError as exc:
            self._problem(str(exc))
            return
        self._set_endpoint(name, Endpoint(image, f"file {path.name}"))

    def _set_endpoint(self, name: str, end: Endpoint) -> None:
        self.ends[name] = end
        picker = self.pickers[name]
        picker.view.set_images(end.image)
        picker.source.setText(f"{end.label}\nencoding…")
        generation = self._generation
        task = Task(latent.encode_images, self.model, end.image, parent=self)
        task.done.connect(lambda codes: self._on_encoded(generation, name, end, codes[0]))
        task.failed.connect(lambda message, _tb: self._problem(message))
        task.start()

    def _on_encoded(self, generation: int, name: str, end: Endpoint, code: np.ndarray) -> None:
        if generation != self._generation or self.ends[name] is not end:
            return  # superseded by a newer pick or model
        end.code = code
        self.pickers[name].source.setText(end.label)
        self.update_strip()
        self.update_scrub()
        if name == "A":
            self.update_vector_result()

    # --- the strip and the scrub ------------------------------------------------------------
    @property
    def method(self) -> str:
        return self.method_combo.currentData()

    def _morph_changed(self) -> None:
        self.update_strip()
        self.update_scrub()

    def update_strip(self) -> None:
        if self.codes is None:
            return
        steps, method = self.steps_spin.value(), self.method
        codes = latent.interpolate(*self.codes, steps, method)
        self.strip_live.submit((self._generation, method), latent.decode_codes, self.model, codes)

    def _on_strip(self, tag: tuple, images: torch.Tensor) -> None:
        generation, method = tag
        if generation != self._generation:
            return
        self.strip_images = images
        self.strip_view.set_images(images, len(images))
        a, b = self.ends["A"].label, self.ends["B"].label
        self.strip_view.title.setText(f"{len(images)} decoded steps, {method}: {a} → {b}")
        self._update_buttons()

    def update_scrub(self) -> None:
        if self.codes is None:
            return
        t = self.scrub_slider.value() / SCRUB_STEPS
        z = latent.morph(*self.codes, t, self.method)
        self.scrub_live.submit((self._generation, t), latent.decode_codes, self.model, z)

    def _on_scrubbed(self, tag: tuple, images: torch.Tensor) -> None:
        generation, t = tag
        if generation == self._generation:
            self.scrub_view.set_images(images)
            self.scrub_view.title.setText(f"Morph at t = {t:.2f}")

    # --- attribute vectors ------------------------------------------------------------------
    def _fill_groups(self) -> None:
        """Group choices: the map's named selections, then one entry per label value."""
        data = self.context.data
        choices = [(f"selection: {name} ({len(ix)})", f"selection:{name}")
                   for name, ix in self.context.selections.items()]
        if data is not None and data.labels is not None:
            for label in np.unique(data.labels):
                name = item_label(data, int(np.flatnonzero(data.labels == label)[0])).split(" · ", 1)[1]
                choices.append((f"label: {name} ({int(np.sum(data.labels == label))})", f"label:{int(label)}"))
        for k, combo in enumerate(self.group_combos.values()):
            previous = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            for text, key in choices:
                combo.addItem(text, key)
            index = combo.findData(previous) if previous is not None else -1
            combo.setCurrentIndex(index if index >= 0 else min(k, combo.count() - 1))
            combo.blockSignals(False)
        self._update_buttons()

    def group_indices(self, key: str) -> np.ndarray:
        """The data indices of a group: ``selection:<name>`` or ``label:<value>``."""
        kind, value = key.split(":", 1)
        if kind == "selection":
            return np.asarray(self.context.selections.get(value, []), dtype=np.int64)
        return np.flatnonzero(self.context.data.labels == int(value))

    def make_vector(self) -> None:
        keys = [self.group_combos[n].currentData() for n in "AB"]
        if None in keys or keys[0] == keys[1]:
            self._problem("Pick two different groups for A and B.")
            return
        texts = [self.group_combos[n].currentText().split(" (")[0].split(": ", 1)[1] for n in "AB"]
        name = self.vector_name.text().strip() or f"{texts[0]} − {texts[1]}"
        description = " − ".join(self.group_combos[n].currentText() for n in "AB")
        checkpoint = str(self.context.checkpoint_path or "")
        generation = self._generation
        self.make_button.setEnabled(False)
        self.info.setText(f"Encoding the groups for {name!r}…")
        task = Task(group_codes, self.model, self.context.data, *(self.group_indices(k) for k in keys), parent=self)
        task.done.connect(lambda result: self._on_vector_made(
            generation, latent.AttributeVector(name, result[0], description, checkpoint, result[1])))
        task.failed.connect(lambda message, _tb: (self._problem(message), self._update_buttons()))
        task.start()

    def _on_vector_made(self, generation: int, vector: latent.AttributeVector) -> None:
        if generation != self._generation:
            return
        self.add_vectors([vector])
        self.info.setText(f"Made {vector.name!r}: {vector.description}, length {np.linalg.norm(vector.vector):.2f}.")
        self.vector_name.clear()

    def add_vectors(self, vectors: list[latent.AttributeVector]) -> None:
        self.vector_list.blockSignals(True)
        for v in vectors:
            self.vectors.append(v)
            item = QListWidgetItem(v.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            item.setToolTip(v.description or v.name)
            self.vector_list.addItem(item)
        self.vector_list.blockSignals(False)
        self.vector_list.setCurrentRow(len(self.vectors) - 1)
        self._update_buttons()

    def _on_vector_renamed(self, item: QListWidgetItem) -> None:
        row = self.vector_list.row(item)
        if 0 <= row < len(self.vectors):
            self.vectors[row].name = item.text().strip() or self.vectors[row].name

    def remove_vector(self) -> None:
        row = self.vector_list.currentRow()
        if row >= 0:
            del self.vectors[row]
            self.vector_list.takeItem(row)
            self._update_buttons()
            self.update_vector_result()

    @property
    def current_vector(self) -> latent.AttributeVector | None:
        row = self.vector_list.currentRow()
        return self.vectors[row] if 0 <= row < len(self.vectors) else None

    def update_vector_result(self) -> None:
        self._update_buttons()
        a, vector = self.ends["A"], self.current_vector
        if a is None or a.code is None or vector is None or len(vector.vector) != self.model.latent_dim:
            self.vector_view.clear()
            self.vector_view.title.setText("Make or load a vector: it is applied to A")
            return
        strength = self.strength_slider.value() / 100
        codes = np.stack([a.code, latent.apply_vector(a.code, vector.vector, strength)])
        self.vector_live.submit((self._generation, vector.name, strength), latent.decode_codes, self.model, codes)

    def _on_vector_applied(self, tag: tuple, images: torch.Tensor) -> None:
        generation, name, strength = tag
        if generation == self._generation:
            self.vector_images = images
            self.vector_view.set_images(images, 2)
            self.vector_view.title.setText(f"A, then A {strength:+.2f} × {name}")

    def save_vectors(self, path: str | Path | None = None) -> Path | None:
        if not self.vectors:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save attribute vectors", "vectors.json", VECTOR_FILTER)
            if not path:
                return None
        try:
            saved = latent.save_vectors(Path(path), self.vectors)
        except OSError as exc:
            self._problem(f"could not write {path}: {exc}")
            return None
        self.context.status.emit(f"Saved {len(self.vectors)} vectors to {saved}")
        return saved

    def load_vectors(self, path: str | Path | None = None) -> None:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Load attribute vectors", "", VECTOR_FILTER)
            if not path:
                return
        generation = self._generation
        task = Task(vectors_from_file, Path(path), self.model, parent=self)
        task.done.connect(lambda result: self._on_vectors_loaded(generation, Path(path), *result))
        task.failed.connect(lambda message, _tb: self._problem(message))
        task.start()

    def _on_vectors_loaded(self, generation: int, path: Path, vectors, foreign: list[str]) -> None:
        if generation != self._generation:
            return
        self.add_vectors(vectors)
        note = (f"; made with another model: {', '.join(foreign)} (they may mean something else here)"
                if foreign else "")
        self._problem(f"Loaded {len(vectors)} vectors from {path.name}{note}")

    # --- exports ----------------------------------------------------------------------------
    def save_strip_png(self, path: str | Path | None = None) -> Path | None:
        if self.strip_images is None:
            return None
        path = path or QFileDialog.getSaveFileName(self, "Save strip as PNG", "morph.png", "PNG images (*.png)")[0]
        if not path:
            return None
        images = self.strip_images
        return self._export(lambda: save_grid(Path(path), images, cell=128))

    def save_strip_gif(self, path: str | Path | None = None) -> Path | None:
        if self.strip_images is None:
            return None
        path = path or QFileDialog.getSaveFileName(self, "Save morph as GIF", "morph.gif", "GIF animations (*.gif)")[0]
        if not path:
            return None
        images = self.strip_images
        return self._export(lambda: save_gif(Path(path), images, frame_ms=120, scale=export_scale(images.shape[-2])))

    def _export(self, write) -> Path | None:
        try:
            saved = write()
        except OSError as exc:
            self._problem(f"could not write the file: {exc}")
            return None
        self.context.status.emit(f"Saved {saved}")
        return saved

    def _problem(self, message: str) -> None:
        self.info.setText(message)
        self.context.status.emit(message)

    # --- the faces demo ----------------------------------------------------------------------
    def start_faces_demo(self, then=None) -> None:
        """Load the Olivetti faces and train a face VAE in the background; both go into the context
        (then ``then()`` runs)."""
        self.demo_button.setEnabled(False)
        self.info.setText(f"Loading the Olivetti faces and training a face VAE for {FACES_DEMO_S:.0f} s…")
        task = Task(faces_demo, FACES_DEMO_S, parent=self)
        task.done.connect(lambda result: self._on_faces_demo(*result, then))
        task.failed.connect(lambda message, _tb: (self._problem(message), self.demo_button.setEnabled(True)))
        task.start()

    def _on_faces_demo(self, data, source: str, model, then=None) -> None:
        self.demo_button.setEnabled(True)
        self.context.set_data(data, source)
        self.context.set_model(model)
        if then is not None:
            then()

    def demo_vector(self) -> None:
        """Make the attribute vector 'label 1 − label 0' and apply it to A (what the screenshot shows)."""
        a, b = self.group_combos["A"], self.group_combos["B"]
        labels = [k for k in range(a.count()) if a.itemData(k).startswith("label:")]
        if len(labels) >= 2 and self.make_button.isEnabled():
            a.setCurrentIndex(labels[1])
            b.setCurrentIndex(labels[0])
            self.make_vector()
