"""Morph panel: the view of a ``core.sessions.morph.MorphSession``. Pick A and B (the item picked on the map,
the data browser, an image file), see the decoded steps between their codes, scrub one large morph, and make,
name, save, load and apply attribute vectors.

Picks, vectors and the Faces demo run as background tasks; the strip, the scrub and the strength slider decode
on latest-value-wins threads. The Faces demo (Olivetti faces and a face VAE trained for half a minute) is
always there; it asks before it replaces an open model.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QComboBox, QDialog, QGridLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QListWidget, QListWidgetItem, QMessageBox, QPushButton, QSlider,
                               QVBoxLayout, QWidget)

from core.errors import LatentExplorerError
from core.image.data import IMAGE_SUFFIXES
from core.sessions import Work
from core.sessions.morph import ENDS, FACES_DEMO_S, STEPS_RANGE, MorphSession

from .background.works import LiveWork, start_work
from .context import AppContext
from .data_browser import DataBrowser
from .image_grid import ImageGrid
from .number_field import WholeField
from .settings import open_file_name, save_file_name

SCRUB_STEPS = 100
STRENGTH_RANGE = 300  # the strength slider runs from -3.00 to +3.00 in hundredths
VECTOR_FILTER = "Attribute vectors (*.json)"
IMAGE_FILTER = f"Images ({' '.join('*' + s for s in sorted(IMAGE_SUFFIXES))});;All files (*)"
STRIP_HINT = "Pick A and B"
STRIP_EMPTY = "the decoded steps from A to B show here"
SCRUB_EMPTY = "one large step of the morph: drag the slider"
VECTOR_EMPTY = "A with the vector added shows here"
VECTOR_HINT = "Make or load a vector: it is applied to A"


class EndpointPicker(QGroupBox):
    """A or B: a thumbnail and three ways to pick a picture."""

    def __init__(self, name: str, parent: QWidget | None = None):
        super().__init__(name, parent)
        self.view = ImageGrid("", placeholder="no picture")
        self.view.setFixedSize(132, 132)
        self.source = QLabel("not picked")
        self.source.setWordWrap(True)
        self.item_button = QPushButton("Selected item")
        self.item_button.setToolTip("The item last picked on the map")
        self.browse_button = QPushButton("Browse…")
        self.browse_button.setToolTip("Pick an item of the open data set")
        self.file_button = QPushButton("Image file…")
        self.file_button.setToolTip("Any picture, fitted to the model's image shape")
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
        self.session = MorphSession(context.workspace)
        self.demo_running = False
        self.strip_live = LiveWork("morph-strip", self)
        self.scrub_live = LiveWork("morph-scrub", self)
        self.vector_live = LiveWork("morph-vector", self)
        self.strip_live.applied.connect(lambda _r: self._show_strip())
        self.scrub_live.applied.connect(lambda _r: self._show_scrub())
        self.vector_live.applied.connect(lambda _r: self._show_vector())
        for live in (self.strip_live, self.scrub_live, self.vector_live):
            live.failed.connect(lambda message, _tb: self._problem(message))

        # --- the faces demo, always at hand
        self.demo_button = QPushButton("Faces demo")
        self.demo_button.setToolTip(f"Load the Olivetti faces and train a face VAE for {FACES_DEMO_S:.0f} s "
                                    "(replaces the open data and model)")
        self.demo_button.clicked.connect(lambda: self.start_faces_demo())
        self.info = QLabel()
        self._shown_problem = ""  # the problem the info line shows, if any
        self.info.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.info, 1)
        top.addWidget(self.demo_button)

        # --- A, B and the strip
        self.pickers = {name: EndpointPicker(name) for name in ENDS}
        for name, picker in self.pickers.items():
            picker.item_button.clicked.connect(lambda _c=False, n=name: self._pick(self.session.pick_current, n))
            picker.browse_button.clicked.connect(lambda _c=False, n=name: self.browse(n))
            picker.file_button.clicked.connect(lambda _c=False, n=name: self.pick_file(n))
        self.method_combo = QComboBox()
        self.method_combo.addItem("Linear", "linear")
        self.method_combo.addItem("Spherical", "spherical")
        self.method_combo.setToolTip("Spherical keeps the code's norm on a smooth path, away from the prior's "
                                     "empty centre")
        self.steps_spin = WholeField(*STEPS_RANGE, "Steps")
        self.steps_spin.setValue(self.session.steps)
        self.steps_spin.setSuffix(" steps")
        self.save_png_button = QPushButton("Save PNG…")
        self.save_gif_button = QPushButton("Save GIF…")
        self.method_combo.currentIndexChanged.connect(lambda _i: self._morph_changed())
        self.steps_spin.valueChanged.connect(lambda _v: self._morph_changed())
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
        self.strip_view = ImageGrid(STRIP_HINT, placeholder=STRIP_EMPTY)
        self.strip_view.setMinimumHeight(120)

        # --- scrub
        self.scrub_view = ImageGrid("Morph", placeholder=SCRUB_EMPTY)
        self.scrub_view.setMinimumSize(220, 220)
        self.scrub_slider = QSlider(Qt.Orientation.Horizontal)
        self.scrub_slider.setRange(0, SCRUB_STEPS)
        self.scrub_slider.setValue(round(self.session.t * SCRUB_STEPS))
        self.scrub_slider.valueChanged.connect(lambda v: self._scrub_moved(v))
        scrub_box = QGroupBox("Scrub A → B")
        box = QVBoxLayout(scrub_box)
        box.addWidget(self.scrub_view, 1)
        box.addWidget(self.scrub_slider)

        # --- attribute vectors
        self.group_combos = {name: QComboBox() for name in ENDS}
        self.vector_name = QLineEdit()
        self.vector_name.setPlaceholderText("name (default: A − B)")
        self.make_button = QPushButton("Make vector")
        self.make_button.setToolTip("Mean code of group A minus mean code of group B")
        self.make_button.clicked.connect(lambda: self.make_vector())
        self.vector_list = QListWidget()
        self.vector_list.setToolTip("Double-click a name to rename it")
        self.vector_list.itemChanged.connect(lambda item: self._vector_renamed(item))
        self.vector_list.currentRowChanged.connect(lambda row: self._vector_chosen(row))
        self.load_button = QPushButton("Load…")
        self.save_button = QPushButton("Save…")
        self.remove_button = QPushButton("Remove")
        self.load_button.clicked.connect(lambda: self.load_vectors())
        self.save_button.clicked.connect(lambda: self.save_vectors())
        self.remove_button.clicked.connect(lambda: self.remove_vector())
        self.strength_slider = QSlider(Qt.Orientation.Horizontal)
        self.strength_slider.setRange(-STRENGTH_RANGE, STRENGTH_RANGE)
        self.strength_slider.setValue(round(self.session.strength * 100))
        self.strength_label = QLabel()
        self.strength_slider.valueChanged.connect(lambda v: self._strength_moved(v))
        self.vector_view = ImageGrid(VECTOR_HINT, placeholder=VECTOR_EMPTY)
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
        # the result beside the controls (not under them): at the default window size it shows whole
        grid.addWidget(self.vector_view, 0, 3, 6, 1)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        self.vector_list.setMinimumHeight(3 * self.vector_list.fontMetrics().lineSpacing())

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
        context.selections_changed.connect(lambda: self._fill_groups())
        context.current_index_changed.connect(lambda _i: self._update_buttons())
        self.refresh()

    # --- the whole panel ----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Start over for the workspace's model and data; A and B default to two items of different classes."""
        picks = self.session.start_over()
        self._shown_problem = ""
        self.info.setText(self.session.describe())
        for name in ENDS:
            self._show_end(name)
        for view in (self.strip_view, self.scrub_view, self.vector_view):
            view.clear()
        self.strip_view.title.setText(STRIP_HINT)
        self.vector_view.title.setText(VECTOR_HINT)
        self._fill_groups()
        self._fill_vectors()  # (marked again for this model)
        for name, work in picks.items():
            self._start_pick(name, work)

    def _update_buttons(self) -> None:
        s = self.session
        for picker in self.pickers.values():
            picker.item_button.setEnabled(s.can_pick_item(self.context.current_index))
            picker.browse_button.setEnabled(s.data_fits)
            picker.file_button.setEnabled(s.can_morph)
        for button in (self.save_png_button, self.save_gif_button):
            button.setEnabled(s.strip is not None)
        self.make_button.setEnabled(s.data_fits and self.group_combos["A"].count() > 1)
        self.save_button.setEnabled(bool(s.vectors))
        self.remove_button.setEnabled(s.current_vector is not None)
        self.load_button.setEnabled(s.model is not None)
        self.demo_button.setEnabled(not self.demo_running)
        self.strength_label.setText(f"{s.strength:+.2f}")

    def _problem(self, message: str) -> None:
        """Say what went wrong, until something the user does next works (``_worked``)."""
        self._shown_problem = message
        self.info.setText(message)
        self.context.status.emit(message)

    def _worked(self) -> None:
        """An action worked: a problem shown before is no longer the news (the panel's summary comes back)."""
        if self._shown_problem and self.info.text() == self._shown_problem:
            self.info.setText(self.session.describe())
        self._shown_problem = ""

    def _failed(self, message: str, _traceback: str = "") -> None:
        self._problem(message)
        self._update_buttons()

    # --- picking A and B --------------------------------------------------------------------------
    def pick_item(self, name: str, index: int) -> None:
        self._pick(self.session.pick_item, name, index)

    def browse(self, name: str) -> None:
        dialog = DataBrowser(self.context.data, f"Pick {name}", self)
        try:
            if self.context.current_index >= 0:
                dialog.select_item(self.context.current_index)
            if dialog.exec() == QDialog.DialogCode.Accepted and dialog.chosen is not None:
                self.pick_item(name, dialog.chosen)
        finally:  # (a child of the panel: kept, with its thumbnails, until deleted)
            dialog.deleteLater()

    def pick_file(self, name: str, path: str | Path | None = None) -> None:
        """Use a picture from disk as A or B, fitted to the model's image shape."""
        if path is None:
            path = open_file_name(self, f"Image file for {name}", IMAGE_FILTER)
            if not path:
                return
        self._pick(self.session.pick_file, name, path)

    def _pick(self, make_work, name: str, *args) -> None:
        """Run the Work the session makes for picking ``name``, or say why it cannot."""
        try:
            work = make_work(name, *args)
        except LatentExplorerError as exc:
            self._problem(str(exc))
            return
        self._start_pick(name, work)

    def _start_pick(self, name: str, work: Work) -> None:
        self._show_end(name)

        def failed(message: str, _tb: str) -> None:
            self.session.failed_pick(name)
            self._show_end(name)
            self._problem(message)

        start_work(work, self, lambda picked: self._on_picked(name, picked), failed)

    def _on_picked(self, name: str, picked: bool) -> None:
        if not picked:
            return  # superseded by a newer pick, model or data
        self._worked()
        self._show_end(name)
        self.strip_live.submit(self.session.strip_work())
        self.scrub_live.submit(self.session.scrub_work())
        if name == "A":
            self._update_vector()

    def _show_end(self, name: str) -> None:
        end, picker = self.session.ends[name], self.pickers[name]
        if end is None:
            picker.view.clear()
        else:
            picker.view.set_images(end.image)
        pending = self.session.picking.get(name)
        picker.source.setText(f"{pending}\nencoding…" if pending else end.label if end else "not picked")
        self._update_buttons()

    # --- the strip and the scrub ------------------------------------------------------------------
    def _morph_changed(self) -> None:
        if self.steps_spin.problem():
            return  # (kept as typed and named by the field; the strip waits for a valid count)
        self.session.set_morph(method=self.method_combo.currentData(), steps=self.steps_spin.value())
        self.strip_live.submit(self.session.strip_work())
        self.scrub_live.submit(self.session.scrub_work())

    def _scrub_moved(self, value: int) -> None:
        self.session.set_morph(t=value / SCRUB_STEPS)
        self.scrub_live.submit(self.session.scrub_work())

    def _show_strip(self) -> None:
        s = self.session
        if s.strip is not None:
            self.strip_view.set_images(s.strip, len(s.strip))
            self.strip_view.title.setText(s.strip_title)
        self._update_buttons()

    def _show_scrub(self) -> None:
        s = self.session
        if s.scrubbed is not None:
            self.scrub_view.set_images(s.scrubbed)
            self.scrub_view.title.setText(f"Morph at t = {s.scrubbed_t:.2f}")

    def save_strip_png(self, path: str | Path | None = None) -> Path | None:
        path = path or save_file_name(self, "Save strip as PNG", "morph.png", "PNG images (*.png)")
        return self._export(self.session.save_strip_png, path)

    def save_strip_gif(self, path: str | Path | None = None) -> Path | None:
        path = path or save_file_name(self, "Save morph as GIF", "morph.gif", "GIF animations (*.gif)")
        return self._export(self.session.save_strip_gif, path)

    def _export(self, save, path) -> Path | None:
        if not path:
            return None
        try:
            saved = save(path)
        except (LatentExplorerError, OSError) as exc:
            self._problem(f"could not write {path}: {exc}")
            return None
        self._worked()
        self.context.status.emit(f"Saved {saved}")
        return saved

    # --- attribute vectors ------------------------------------------------------------------------
    def _fill_groups(self) -> None:
        """Group choices: the workspace's named selections, then one entry per label."""
        choices = self.session.group_choices()
        for k, combo in enumerate(self.group_combos.values()):
            previous = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            for key, text in choices:
                combo.addItem(text, key)
            index = combo.findData(previous) if previous is not None else -1
            combo.setCurrentIndex(index if index >= 0 else min(k, combo.count() - 1))
            combo.blockSignals(False)
        self._update_buttons()

    def make_vector(self) -> None:
        keys = [self.group_combos[n].currentData() for n in ENDS]
        try:
            work = self.session.make_vector(*keys, self.vector_name.text())
        except LatentExplorerError as exc:
            self._problem(str(exc))
            return
        self.make_button.setEnabled(False)
        self.info.setText(f"{work.what[0].upper()}{work.what[1:]}…")
        start_work(work, self, self._on_vector_made, self._failed)

    def _on_vector_made(self, message: str | None) -> None:
        if message is not None:
            self.vector_name.clear()
            self._fill_vectors()
            self.info.setText(message)
        self._update_buttons()

    def add_vectors(self, vectors) -> None:
        self.session.add_vectors(vectors)
        self._fill_vectors()

    def _fill_vectors(self) -> None:
        """The list shows the session's vectors, the current one selected; A is shown with it applied."""
        s = self.session
        self.vector_list.blockSignals(True)
        self.vector_list.clear()
        for v in s.vectors:
            item = QListWidgetItem(v.name)
            misfit = s.vector_misfit(v)
            if not misfit:
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            item.setToolTip(misfit or v.description or v.name)
            if misfit:  # (kept, for a model it fits, but marked: greyed, in italics, the reason in its tooltip)
                font = item.font()
                font.setItalic(True)
                item.setFont(font)
                item.setForeground(QColor("#8c959f"))
                item.setText(f"{v.name} ({len(v.vector)}-d: not for this model)")
            self.vector_list.addItem(item)
        self.vector_list.setCurrentRow(s.current)
        self.vector_list.blockSignals(False)
        self._update_vector()

    def _vector_renamed(self, item: QListWidgetItem) -> None:
        self.session.rename_vector(self.vector_list.row(item), item.text())

    def _vector_chosen(self, row: int) -> None:
        self.session.select_vector(row)
        self._update_vector()

    def remove_vector(self) -> None:
        if self.session.current_vector is not None:
            self.session.remove_vector(self.session.current)
            self._fill_vectors()

    def _strength_moved(self, value: int) -> None:
        self.session.set_strength(value / 100)
        self._update_vector()

    def _update_vector(self) -> None:
        work = self.session.vector_work()
        if work is None:
            self._show_vector()
        self.vector_live.submit(work)
        self._update_buttons()

    def _show_vector(self) -> None:
        s = self.session
        if s.applied is None:
            self.vector_view.clear()
            self.vector_view.title.setText(s.applied_title or VECTOR_HINT)
        else:
            self.vector_view.set_images(s.applied, 2)
            self.vector_view.title.setText(s.applied_title)

    def save_vectors(self, path: str | Path | None = None) -> Path | None:
        if path is None:
            path = save_file_name(self, "Save attribute vectors", "vectors.json", VECTOR_FILTER)
            if not path:
                return None
        try:
            saved = self.session.save_vectors(path)
        except LatentExplorerError as exc:
            self._problem(str(exc))
            return None
        self._worked()
        self.context.status.emit(f"Saved {len(self.session.vectors)} vectors to {saved}")
        return saved

    def load_vectors(self, path: str | Path | None = None) -> None:
        if path is None:
            path = open_file_name(self, "Load attribute vectors", VECTOR_FILTER)
            if not path:
                return
        try:
            work = self.session.load_vectors(path)
        except LatentExplorerError as exc:
            self._problem(str(exc))
            return
        start_work(work, self, self._on_vectors_loaded, self._failed)

    def _on_vectors_loaded(self, message: str | None) -> None:
        if message is not None:
            self._fill_vectors()
            self._problem(message)

    def demo_vector(self) -> None:
        """Make the attribute vector 'label 1 − label 0' and apply it to A (what the screenshot shows)."""
        a, b = self.group_combos["A"], self.group_combos["B"]
        labels = [k for k in range(a.count()) if a.itemData(k).startswith("label:")]
        if len(labels) >= 2 and self.make_button.isEnabled():
            a.setCurrentIndex(labels[1])
            b.setCurrentIndex(labels[0])
            self.make_vector()

    # --- the faces demo ---------------------------------------------------------------------------
    def start_faces_demo(self) -> None:
        """Load the Olivetti faces and train a face VAE in the background; both replace the workspace's data
        and model (after asking, when a model is open)."""
        note = self.session.faces_demo_note()
        if note and QMessageBox.question(self, "Faces demo", f"{note} Go on?") != QMessageBox.StandardButton.Yes:
            return
        work = self.session.faces_demo()
        self.demo_running = True
        self.info.setText(f"{work.what[0].upper()}{work.what[1:]}…")
        self._update_buttons()
        start_work(work, self, self._on_faces_demo, self._on_faces_demo_failed)

    def _on_faces_demo(self, message: str) -> None:
        self.demo_running = False
        self._update_buttons()
        self.context.status.emit(message)

    def _on_faces_demo_failed(self, message: str, _traceback: str) -> None:
        self.demo_running = False
        self._failed(f"Faces demo: {message}")
