"""The embedding map panel: a view over ``core.sessions.map.MapSession``. It draws the map (every item at
its model's code projected to the plane), the inspector, the selections and the exports' dialogs, and
forwards the user's choices to the session.

Making the map runs as a background ``Job`` (progress bar, Cancel); a new model, data set or projection
cancels the job under way and starts a fresh one. Work for a hidden panel waits until it is shown.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QListWidget, QListWidgetItem, QMenu, QProgressBar, QPushButton, QSpinBox,
                               QSplitter, QToolButton, QVBoxLayout, QWidget)

from core.errors import LatentExplorerError
from core.image.embedding import GENERATED_SAMPLES
from core.image.projection import METHODS
from core.sessions.map import THUMBNAIL_PX, MapChoices, MapSession

from .background.jobs import Job
from .background.works import start_job, start_work
from .context import AppContext
from .inspector import Inspector
from .map_view import MapView
from .settings import app_settings, existing_folder, read_json, save_file_name, write_json

SETTINGS_KEY = "map/view"


class MapPanel(QWidget):
    def __init__(self, context: AppContext, bridge=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.context = context
        self.session = MapSession(context.workspace, MapChoices.from_dict(read_json(app_settings(), SETTINGS_KEY, {})))
        self.job: Job | None = None
        self._stale = False
        self._build()
        self._show_choices()
        listener = self._on_session
        self.session.listen(listener)
        session = self.session
        self.destroyed.connect(lambda *_args: session.unlisten(listener))
        self._on_session("source")

    # --- construction ---------------------------------------------------------------------
    def _build(self) -> None:
        self.method_combo = QComboBox()
        for key, title in METHODS.items():
            self.method_combo.addItem(title, key)
        self.method_combo.setToolTip("PCA is instant; UMAP separates classes best; t-SNE is slow on large sets")
        self.method_combo.activated.connect(lambda _index: self.set_method(self.method_combo.currentData()))
        self.source_combo = QComboBox()
        self.source_combo.addItem("Data set codes", "data")
        self.source_combo.addItem("Generated samples", "generated")
        self.source_combo.setToolTip("Map the data set's codes (a GAN inverts each image: slow), or samples "
                                     "the model generates from random z")
        self.source_combo.activated.connect(lambda _index: self.set_source(self.source_combo.currentData()))
        self.samples_spin = QSpinBox()
        self.samples_spin.setRange(100, 1_000_000)
        self.samples_spin.setSingleStep(500)
        self.samples_spin.setValue(GENERATED_SAMPLES)
        self.samples_spin.setSuffix(" samples")
        self.samples_spin.setToolTip("How many samples to generate for the map")
        self.samples_spin.valueChanged.connect(self.session.set_samples)
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
        self.images_check.setToolTip("Show the images themselves instead of dots when zoomed in")
        self.images_check.toggled.connect(self._on_images_toggled)
        self.size_spin = QSpinBox()
        self.size_spin.setRange(*THUMBNAIL_PX)
        self.size_spin.setSingleStep(4)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Image size on the map")
        self.size_spin.valueChanged.connect(self._on_size_changed)
        self.legend_check = QCheckBox("Legend")
        self.legend_check.setToolTip("Show the classes' colours (drag the legend to move it; click a class to "
                                     "hide its points)")
        self.legend_check.toggled.connect(self._on_legend_toggled)
        self.names_check = QCheckBox("Names")
        self.names_check.setToolTip("Name the map's clusters (by their most common label)")
        self.names_check.toggled.connect(self._on_names_toggled)
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Find class, #index, file")
        self.search_edit.setToolTip("Press Enter to zoom to what matches: a class's items, one item by its "
                                    "index, or the items whose file name contains the text")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setMinimumWidth(170)
        self.search_edit.setMaximumWidth(230)
        self.search_edit.returnPressed.connect(lambda: self.find(self.search_edit.text()))
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Show the whole map")
        self.fit_button.clicked.connect(lambda _checked=False: self.view.fit())
        self.export_button = QToolButton()
        self.export_button.setText("Export")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        menu.addAction("Map as PNG…", lambda: self._ask_export_png())
        menu.addAction("Coordinates as CSV…", lambda: self._ask_export_csv())
        menu.addAction("Embedding Projector files…", lambda: self._ask_export_projector())
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
        top.addWidget(self.legend_check)
        top.addWidget(self.names_check)
        top.addWidget(self.fit_button)
        top.addStretch(1)
        top.addWidget(self.search_edit)
        top.addWidget(self.export_button)

        self.banner = QLabel("")
        self.banner.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(lambda _checked=False: self.cancel())
        self.progress_label = QLabel()  # what the work does, from the start (a busy bar draws no text)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress_label)
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        self.progress_box = QWidget()
        self.progress_box.setLayout(progress_row)
        progress_row.setContentsMargins(0, 0, 0, 0)
        self.progress_box.hide()

        self.view = MapView()
        self.view.point_clicked.connect(self._on_point_clicked)
        self.view.selection_drawn.connect(self.session.select)
        self.view.legend_moved.connect(self._on_legend_moved)
        self._shown_key: str | None = None  # the map on show, whose view is remembered when it goes
        self.inspector = Inspector()
        self.inspector.neighbour_clicked.connect(self._on_point_clicked)

        selections = QGroupBox("Selections")
        self.selection_label = QLabel("")
        self.selection_label.setWordWrap(True)
        self.selection_name = QLineEdit()
        self.save_selection_button = QPushButton("Save selection")
        self.save_selection_button.clicked.connect(lambda _checked=False: self.save_selection())
        self.save_selection_button.setEnabled(False)
        self.selection_name.returnPressed.connect(self.save_selection)
        self.selection_list = QListWidget()
        self.selection_list.setMaximumHeight(110)
        self.selection_list.currentItemChanged.connect(self._on_saved_selection_picked)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(lambda _checked=False: self._remove_selection())
        name_row = QHBoxLayout()
        name_row.addWidget(self.selection_name, 1)
        name_row.addWidget(self.save_selection_button)
        box = QVBoxLayout(selections)
        box.addWidget(self.selection_label)
        box.addLayout(name_row)
        box.addWidget(self.selection_list)
        box.addWidget(self.remove_button, 0, Qt.AlignmentFlag.AlignRight)

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
        self._show_selection()

    def _show_choices(self) -> None:
        """The remembered view choices in the controls and on the map."""
        choices = self.session.choices
        self.images_check.setChecked(choices.images)
        self.names_check.setChecked(choices.cluster_names)
        self.view.set_show_clusters(choices.cluster_names)
        self.size_spin.setValue(choices.thumbnail_px)
        self.method_combo.setCurrentIndex(self.method_combo.findData(self.session.method))
        self.view.set_show_images(choices.images)
        self.view.set_thumbnail_size(choices.thumbnail_px)
        if choices.legend_offset is not None:
            self.view.set_legend_offset(choices.legend_offset)

    def save_settings(self) -> None:
        self._remember_view()
        settings = app_settings()
        write_json(settings, SETTINGS_KEY, self.session.choices.to_dict())
        settings.sync()

    # --- the user's choices ---------------------------------------------------------------
    @property
    def method(self) -> str:
        return self.session.method

    def set_method(self, method: str) -> None:
        """Choose the projection (remembered) and map again."""
        self.session.set_method(method)
        self.method_combo.setCurrentIndex(self.method_combo.findData(method))
        self.refresh()

    def set_source(self, source: str) -> None:
        """Choose what to map and map again."""
        self.session.set_source(source)
        self._show_source()
        self.refresh()

    def _on_samples_changed(self) -> None:
        if self.session.set_samples(self.samples_spin.value()):
            self.refresh()

    def _on_images_toggled(self, on: bool) -> None:
        self.session.choices.images = on
        self.view.set_show_images(on)

    def _on_size_changed(self, px: int) -> None:
        self.session.choices.thumbnail_px = px
        self.view.set_thumbnail_size(px)

    def _on_legend_toggled(self, on: bool) -> None:
        self.session.choices.legend = on
        self.view.set_legend_shown(on)

    def _on_names_toggled(self, on: bool) -> None:
        self.session.choices.cluster_names = on
        self.view.set_show_clusters(on)

    def find(self, text: str) -> None:
        """Zoom to the items matching ``text`` (a class, #index or file name): one item is inspected, several
        are selected; the status line says what was found."""
        found = self.session.find(text)
        if len(found.indices) == 1:
            self.view.zoom_to_points(found.indices)
            self._on_point_clicked(int(found.indices[0]))
        elif len(found.indices):
            self.session.select(found.indices)
            self.view.zoom_to_points(found.indices)
        self.search_edit.setStyleSheet("" if len(found.indices) or not text.strip() else "color: #b3261e;")
        self.context.status.emit(f"Map: {found.what}" if found.what else "")

    def _remember_view(self) -> None:
        """Keep the view of the map on show (zoom, hidden classes, selection) for when it shows again."""
        if self._shown_key is not None and self._shown_key == self.session.view_key():
            self.session.remember_view(self.view.view_state())

    def _on_legend_moved(self, offset: tuple[float, float]) -> None:
        self.session.choices.legend_offset = offset

    def set_tool(self, tool: str) -> None:
        self.view.viewbox.tool = tool
        for button in self.tool_buttons.buttons():
            button.setChecked(button.property("tool") == tool)

    # --- what the session tells -----------------------------------------------------------
    def _on_session(self, what: str) -> None:
        if what == "source":
            self._show_source()
            self.refresh()
        elif what == "map":
            self._show_map()
        elif what == "item":
            self._show_item()
        elif what == "selection":
            self._show_selection()
        elif what == "selections":
            self._fill_selections()
        elif what == "current_index":
            self._inspect(self.session.inspect_work())

    def _show_source(self) -> None:
        session = self.session
        self.method_combo.setCurrentIndex(self.method_combo.findData(session.method))
        self.source_box.setVisible(session.can_generate)
        self.source_combo.setCurrentIndex(self.source_combo.findData(session.source_choice))
        self.samples_spin.setVisible(session.source == "generated")

    def _show_map(self) -> None:
        if self._shown_key is not None:
            self.session.choices.remember_view(self._shown_key, {**self.view.view_state(), "selection": []})
        session, embedding = self.session, self.session.embedding
        no_data = self.context.data is None
        self.banner.setText("" if no_data else session.describe())  # (the map itself says what to do)
        self.banner.setStyleSheet("")
        self.inspector.clear()
        self._shown_key = None
        if embedding is None:
            self.view.clear_map(session.describe() if no_data else "")
            self.legend_check.setEnabled(False)
            self._show_selection()
            return
        self.view.set_map(embedding.coords, session.images, session.labels, session.class_names,
                          session.choices.thumbnail_px)
        self.view.set_show_images(session.choices.images)
        self.legend_check.blockSignals(True)
        self.legend_check.setChecked(session.legend_shown)
        self.legend_check.blockSignals(False)
        self.legend_check.setEnabled(bool(session.class_names))
        self.view.set_legend_shown(session.legend_shown)
        self.view.set_clusters([(c.x, c.y, c.name) for c in session.clusters])
        saved = session.saved_view()
        if saved is not None:
            self.view.set_view_state(saved)
            session.restore_selection(saved)
        self._shown_key = session.view_key()
        self._show_selection()
        self._inspect(session.inspect_work())

    # --- making the map -------------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Map what is chosen now (cancelling any map under way); a hidden panel waits until it is shown."""
        self.cancel()
        if self.context.data is None:
            self._show_map()
            return
        if not force and not self.isVisible():
            self._stale = True
            return
        self._stale = False
        work = self.session.map_work()
        job = self.job = start_job(work, self)
        job.progress.connect(self._on_progress)
        job.done.connect(lambda _result, job=job: self._job_ended(job))
        job.failed.connect(lambda message, _tb, job=job: self._on_map_failed(job, message))
        job.cancelled.connect(job.deleteLater)
        self.progress.setRange(0, 0)
        self.progress.setFormat(f"{work.what}…")
        self.progress_label.setText(f"{work.what}…")
        self.progress_box.show()

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
        self.progress_label.setText(text if fraction < 0 else "")  # (a bar with a fraction shows its own text)

    def _job_ended(self, job: Job) -> bool:
        """Forget ``job``; whether it was the one under way."""
        job.deleteLater()
        if job is not self.job:
            return False
        self.job = None
        self.progress_box.hide()
        return True

    def _on_map_failed(self, job: Job, message: str) -> None:
        if self._job_ended(job):
            self.banner.setText(f"Could not make the map: {message}")
            self.banner.setStyleSheet("color: #b3261e;")
            self.context.status.emit(f"Map: {message}")

    # --- the inspector --------------------------------------------------------------------
    def _on_point_clicked(self, index: int) -> None:
        self._inspect(self.session.click(index))

    def _inspect(self, work) -> None:
        if work is not None:
            task = start_work(work, self)
            task.failed.connect(lambda message, _tb: self.context.status.emit(f"Inspector: {message}"))

    def _show_item(self) -> None:
        session, item = self.session, self.session.item
        self.inspector.show_item(item, session.item_title(), session.images, session.point_names(),
                                 "generated" if session.generated else "original")
        self.view.set_current(item.index, item.neighbours)

    # --- selections -----------------------------------------------------------------------
    @property
    def selection(self):
        return self.session.selection

    def _show_selection(self) -> None:
        session = self.session
        self.view.set_selection(session.selection)
        self.selection_label.setText(session.selection_summary())
        self.save_selection_button.setEnabled(session.can_save_selection)
        self.selection_name.setPlaceholderText(f"name (empty: “{session.default_selection_name()}”)")

    def save_selection(self) -> None:
        name = self.session.save_selection(self.selection_name.text())
        if name is not None:
            self.context.status.emit(f"Saved selection {name!r}: {len(self.session.selection):,} items")
            self.selection_name.clear()

    def _fill_selections(self) -> None:
        self.selection_list.blockSignals(True)
        self.selection_list.clear()
        for name, indices in self.context.selections.items():
            item = QListWidgetItem(f"{name} ({len(indices):,})")
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.selection_list.addItem(item)
        self.selection_list.blockSignals(False)
        self._show_selection()

    def _on_saved_selection_picked(self, item: QListWidgetItem | None, _previous=None) -> None:
        if item is not None:
            self.session.show_selection(item.data(Qt.ItemDataRole.UserRole))

    def _remove_selection(self) -> None:
        item = self.selection_list.currentItem()
        if item is not None:
            self.session.remove_selection(item.data(Qt.ItemDataRole.UserRole))

    # --- export ---------------------------------------------------------------------------
    def export_png(self, path: Path) -> Path:
        if not self.view.grab().save(str(path)):
            raise OSError(f"could not write {path}")
        return Path(path)

    def export_projector(self, folder: Path):
        """Write the projector files off the UI thread; the returned task reports the paths."""
        task = start_work(self.session.projector_work(Path(folder)), self)
        task.done.connect(lambda _paths: self.context.status.emit(f"Wrote the Embedding Projector files in {folder}"))
        task.failed.connect(lambda message, _tb: self.context.status.emit(f"Export failed: {message}"))
        return task

    def _ask_export_png(self) -> None:
        path = save_file_name(self, "Export the map as PNG", "map.png", "PNG images (*.png)")
        if path:
            try:
                self.context.status.emit(f"Wrote {self.export_png(Path(path))}")
            except OSError as exc:
                self.context.status.emit(f"Export failed: {exc}")

    def _ask_export_csv(self) -> None:
        if self.session.embedding is None:
            return
        path = save_file_name(self, "Export coordinates as CSV", "map.csv", "CSV files (*.csv)")
        if path:
            try:
                self.context.status.emit(f"Wrote {self.session.export_csv(Path(path))}")
            except LatentExplorerError as exc:
                self.context.status.emit(f"Export failed: {exc}")

    def _ask_export_projector(self) -> None:
        if self.session.embedding is None:
            return
        folder = existing_folder(self, "Folder for the Embedding Projector files")
        if folder:
            self.export_projector(Path(folder))
