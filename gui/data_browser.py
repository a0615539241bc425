"""A small data browser, the view of a ``core.sessions.browse.BrowseSession``: the data set's images as
scrolling thumbnails, filtered by label; pick one.

Thumbnails are drawn on demand for the rows in view, so 70,000 images open as fast as 70.
"""
from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QListView, QVBoxLayout,
                               QWidget)

from core.image.data import ImageData
from core.sessions.browse import BrowseSession, class_name, item_label, label_counts

from .image_grid import image_to_qimage

THUMB = 56  # px


class ThumbnailModel(QAbstractListModel):
    """The items the session shows; the thumbnail of a row is made when the view first asks."""

    def __init__(self, session: BrowseSession, parent=None):
        super().__init__(parent)
        self.session = session
        self._cache: dict[int, QPixmap] = {}

    def show_label(self, label: int | None) -> None:
        self.beginResetModel()
        self.session.show_label(label)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.session.indices)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        item = self.session.item(index.row())
        if role == Qt.ItemDataRole.DecorationRole:
            if item not in self._cache:
                image = image_to_qimage(self.session.picture(item))
                mode = Qt.TransformationMode.FastTransformation if image.width() < THUMB else \
                    Qt.TransformationMode.SmoothTransformation
                self._cache[item] = QPixmap.fromImage(image.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                                                   mode))
            return self._cache[item]
        if role == Qt.ItemDataRole.ToolTipRole:
            return item_label(self.session.data, item)
        if role == Qt.ItemDataRole.UserRole:
            return item
        return None


class DataBrowser(QDialog):
    """Pick one item of ``data``: double-click a thumbnail, or select it and press OK."""

    def __init__(self, data: ImageData, title: str = "Pick an image", parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(560, 480)
        self.session = BrowseSession(data)
        self.model = ThumbnailModel(self.session, self)
        self.view = QListView()
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setIconSize(QSize(THUMB, THUMB))
        self.view.setGridSize(QSize(THUMB + 8, THUMB + 8))
        self.view.setUniformItemSizes(True)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setModel(self.model)
        self.view.doubleClicked.connect(lambda _index: self.accept())
        self.label_filter = QComboBox()
        self.label_filter.addItem("All items", -1)
        for label, count in label_counts(data):
            self.label_filter.addItem(f"{class_name(data, label)} ({count})", label)
        self.label_filter.setVisible(self.label_filter.count() > 1)
        self.label_filter.currentIndexChanged.connect(lambda _i: self._filter())
        self.count = QLabel()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        top = QHBoxLayout()
        top.addWidget(self.label_filter)
        top.addWidget(self.count, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.buttons)
        self._filter()

    def _filter(self) -> None:
        label = self.label_filter.currentData()
        self.model.show_label(None if label in (None, -1) else label)
        self.count.setText(self.session.describe())
        if self.model.rowCount():
            self.view.setCurrentIndex(self.model.index(0))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(self.model.rowCount() > 0)

    def select_item(self, item: int) -> None:
        """Show all items and select data item ``item``."""
        self.label_filter.setCurrentIndex(0)
        row = self.session.row_of(int(item))
        if row is not None:
            self.view.setCurrentIndex(self.model.index(row))

    @property
    def chosen(self) -> int | None:
        """The data index of the selected thumbnail, or None."""
        index = self.view.currentIndex()
        return int(self.model.data(index, Qt.ItemDataRole.UserRole)) if index.isValid() else None
