"""A small data browser: the data set's images as scrolling thumbnails, filtered by label; pick one.

Thumbnails are drawn on demand for the rows in view, so 70,000 images open as fast as 70.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QListView, QVBoxLayout,
                               QWidget)

from core.data import ImageData

from .image_grid import image_to_qimage

THUMB = 56  # px


def item_label(data: ImageData, index: int) -> str:
    """'item 12 · person 1': the index and, when there are labels, the class."""
    if data.labels is None:
        return f"item {index}"
    label = int(data.labels[index])
    name = data.class_names[label] if data.class_names and label < len(data.class_names) else str(label)
    return f"item {index} · {name}"


class ThumbnailModel(QAbstractListModel):
    """The items ``indices`` of a data set; the thumbnail of a row is made when the view first asks."""

    def __init__(self, data: ImageData, parent=None):
        super().__init__(parent)
        self.data_set = data
        self.indices = np.arange(len(data))
        self._cache: dict[int, QPixmap] = {}

    def set_indices(self, indices: np.ndarray) -> None:
        self.beginResetModel()
        self.indices = np.asarray(indices, dtype=np.int64)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.indices)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        item = int(self.indices[index.row()])
        if role == Qt.ItemDataRole.DecorationRole:
            if item not in self._cache:
                image = image_to_qimage(self.data_set.images[item].numpy())
                mode = Qt.TransformationMode.FastTransformation if image.width() < THUMB else \
                    Qt.TransformationMode.SmoothTransformation
                self._cache[item] = QPixmap.fromImage(image.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                                                   mode))
            return self._cache[item]
        if role == Qt.ItemDataRole.ToolTipRole:
            return item_label(self.data_set, item)
        if role == Qt.ItemDataRole.UserRole:
            return item
        return None


class DataBrowser(QDialog):
    """Pick one item of ``data``: double-click a thumbnail, or select it and press OK."""

    def __init__(self, data: ImageData, title: str = "Pick an image", parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(560, 480)
        self.data_set = data
        self.model = ThumbnailModel(data, self)
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
        if data.labels is not None:
            for label in np.unique(data.labels):
                name = data.class_names[label] if data.class_names and label < len(data.class_names) else str(label)
                self.label_filter.addItem(f"{name} ({int(np.sum(data.labels == label))})", int(label))
        self.label_filter.setVisible(data.labels is not None)
        self.label_filter.currentIndexChanged.connect(lambda _i: self._filter())
        self.count = QLabel()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        top = QHBoxLayout()
        top.addWidget(self.label_filter)
        top.addWidget(self.count, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addWidget(buttons)
        self._filter()

    def _filter(self) -> None:
        label = self.label_filter.currentData()
        indices = np.arange(len(self.data_set)) if label in (None, -1) else np.flatnonzero(self.data_set.labels == label)
        self.model.set_indices(indices)
        self.count.setText(f"{len(indices):,} images")
        if len(indices):
            self.view.setCurrentIndex(self.model.index(0))

    def select_item(self, item: int) -> None:
        """Show all items and select data item ``item``."""
        self.label_filter.setCurrentIndex(0)
        self.view.setCurrentIndex(self.model.index(int(item)))

    @property
    def chosen(self) -> int | None:
        """The data index of the selected thumbnail, or None."""
        index = self.view.currentIndex()
        return int(self.model.data(index, Qt.ItemDataRole.UserRole)) if index.isValid() else None
