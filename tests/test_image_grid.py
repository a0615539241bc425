"""Image grids grow and shrink with the space they are given, pixel-exact: every image pixel is drawn as an
equal square block (nearest neighbour) at the largest whole enlargement that fits."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QImage

from core.image.imaging import tile
from gui.image_grid import ImageGrid


def drawn(grid: ImageGrid) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """What the grid's canvas shows (H, W, 3) and the box (top, left, bottom, right) the mosaic covers."""
    picture = grid.canvas.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    rows = np.array(picture.constBits(), np.uint8).reshape(picture.height(), picture.bytesPerLine())  # a copy
    pixels = rows[:, :3 * picture.width()].reshape(picture.height(), picture.width(), 3)
    background = pixels[0, 0]
    ys, xs = np.nonzero((pixels != background).any(axis=2))
    return pixels, (ys.min(), xs.min(), ys.max() + 1, xs.max() + 1)


def test_the_grid_grows_with_its_widget_in_whole_pixel_blocks(qtbot):
    images = np.random.default_rng(0).integers(60, 200, (16, 1, 8, 8), dtype=np.uint8)
    mosaic = tile(images, 4)  # 37 x 37 pixels: 4 images of 8 and 5 lines of padding a side
    grid = ImageGrid("digits")
    qtbot.addWidget(grid)
    grid.set_images(images)
    grid.show()
    factors = []
    for side in (160, 420, 760):
        grid.resize(side, side)
        qtbot.waitUntil(lambda side=side: grid.canvas.width() > side - 20)
        pixels, (top, left, bottom, right) = drawn(grid)
        canvas = grid.canvas
        factor = min(canvas.width(), canvas.height()) // 37
        assert (bottom - top, right - left) == (37 * factor, 37 * factor)  # the largest whole enlargement
        assert abs((left + right) - canvas.width()) <= 1 and abs((top + bottom) - canvas.height()) <= 1  # centred
        blocks = np.kron(mosaic, np.ones((factor, factor, 1), np.uint8))
        np.testing.assert_array_equal(pixels[top:bottom, left:right], blocks)  # nearest neighbour, exact
        factors.append(factor)
    assert factors[0] >= 2 and factors[0] < factors[1] < factors[2]


def test_a_grid_larger_than_its_widget_is_scaled_down_to_fit(qtbot):
    grid = ImageGrid("")
    qtbot.addWidget(grid)
    grid.set_images(np.full((100, 1, 28, 28), 128, np.uint8), cols=20)  # 581 x 146 pixels
    grid.show()
    grid.resize(300, 200)
    qtbot.waitUntil(lambda: grid.canvas.width() > 280)
    _, (top, left, bottom, right) = drawn(grid)
    assert right - left == grid.canvas.width()
    assert (bottom - top) / (right - left) == pytest.approx(146 / 581, abs=0.02)
