"""A widget that shows a batch of images (N, C, H, W; grey or RGB) as one tiled mosaic, scaled to fit."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from core.imaging import tile

if TYPE_CHECKING:
    import torch


def image_to_qimage(image: np.ndarray) -> QImage:
    """A uint8 (C, H, W) image (C = 1 or 3) as a QImage (its own copy of the pixels)."""
    c, h, w = image.shape
    if c == 1:
        pixels = np.ascontiguousarray(image[0])
        return QImage(pixels.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    pixels = np.ascontiguousarray(image[:3].transpose(1, 2, 0))
    return QImage(pixels.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class _Canvas(QWidget):
    """Paints one QImage scaled to fit, aspect kept; crisp pixels when blown up."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.image: QImage | None = None
        self.placeholder = "no images yet"  # what an empty canvas says
        self.setMinimumSize(64, 64)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(200, 200)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        if self.image is None:
            p.setPen(self.palette().placeholderText().color())
            p.drawText(self.rect().adjusted(6, 6, -6, -6), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       self.placeholder)
            return
        size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        target = QRect((self.width() - size.width()) // 2, (self.height() - size.height()) // 2,
                       size.width(), size.height())
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, size.width() < self.image.width())
        p.drawImage(target, self.image)


class ImageGrid(QWidget):
    """A titled mosaic of images; ``set_images`` replaces them, ``clear`` shows a placeholder."""

    def __init__(self, title: str = "", parent=None):
        super().__init__(parent)
        self.title = QLabel(title)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.canvas = _Canvas()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addWidget(self.canvas, 1)

    @property
    def has_image(self) -> bool:
        return self.canvas.image is not None

    def set_images(self, images: np.ndarray | torch.Tensor, cols: int | None = None) -> None:
        """uint8 or [0, 1] float images (N, 1 or 3, H, W); ``cols`` per row (default: a square-ish grid)."""
        mosaic = tile(images, cols or math.ceil(math.sqrt(len(images))))
        h, w, _ = mosaic.shape
        self.canvas.image = QImage(mosaic.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.canvas.update()

    def clear(self, placeholder: str | None = None) -> None:
        """Show no images; ``placeholder`` says why (until the next clear with another)."""
        self.canvas.image = None
        if placeholder is not None:
            self.canvas.placeholder = placeholder
        self.canvas.update()
