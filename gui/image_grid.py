"""A widget that shows a batch of images (N, C, H, W; grey or RGB) as one tiled mosaic that grows and
shrinks with the space it is given: enlarged by the largest whole factor that fits, so every image pixel
becomes an equal square block (nearest neighbour), and scaled down smoothly when even 1x does not fit."""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from core.image.imaging import tile

PLACEHOLDER = "no images yet"


def image_to_qimage(image: np.ndarray) -> QImage:
    """A uint8 (C, H, W) image (C = 1 or 3) as a QImage (its own copy of the pixels)."""
    c, h, w = image.shape
    if c == 1:
        pixels = np.ascontiguousarray(image[0])
        return QImage(pixels.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    pixels = np.ascontiguousarray(image[:3].transpose(1, 2, 0))
    return QImage(pixels.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def fitted_size(image: QSize, space: QSize) -> QSize:
    """The size ``image`` is drawn at in ``space``: the largest whole-number enlargement that fits, or, when
    it is larger than the space, scaled down to fit (aspect kept either way)."""
    factor = min(space.width() / image.width(), space.height() / image.height())
    if factor >= 1:
        return image * math.floor(factor)
    return image.scaled(space, Qt.AspectRatioMode.KeepAspectRatio)


class _Canvas(QWidget):
    """Paints one QImage centred at ``fitted_size``; a hint in its place when there is none."""

    def __init__(self, placeholder: str, parent=None):
        super().__init__(parent)
        self.image: QImage | None = None
        self.placeholder = placeholder
        self.setMinimumSize(64, 64)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(200, 200)

    def target(self) -> QRect:
        """Where the image is drawn, in the canvas."""
        size = fitted_size(self.image.size(), self.size())
        return QRect((self.width() - size.width()) // 2, (self.height() - size.height()) // 2,
                     size.width(), size.height())

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        if self.image is None:
            p.setPen(self.palette().placeholderText().color())
            p.drawText(self.rect().adjusted(6, 6, -6, -6), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       self.placeholder)
            return
        target = self.target()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, target.width() < self.image.width())
        p.drawImage(target, self.image)


class ImageGrid(QWidget):
    """A titled mosaic of images; ``set_images`` replaces them, ``clear`` shows a hint instead."""

    def __init__(self, title: str = "", parent=None, placeholder: str = PLACEHOLDER):
        super().__init__(parent)
        self.title = QLabel(title)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        self.canvas = _Canvas(placeholder)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addWidget(self.canvas, 1)

    @property
    def has_image(self) -> bool:
        return self.canvas.image is not None

    def set_images(self, images, cols: int | None = None) -> None:
        """uint8 or [0, 1] float images (N, 1 or 3, H, W; arrays or tensors); ``cols`` per row (default: a
        square-ish grid)."""
        mosaic = tile(images, cols or math.ceil(math.sqrt(len(images))))
        h, w, _ = mosaic.shape
        self.canvas.image = QImage(mosaic.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.canvas.update()

    def clear(self, placeholder: str | None = None) -> None:
        """No images; ``placeholder`` (if given) says why, or what to do."""
        self.canvas.image = None
        if placeholder is not None:
            self.canvas.placeholder = placeholder
        self.canvas.update()
