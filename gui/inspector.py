"""The map's inspector: one item's original, its reconstruction, its latent code, its nearest
neighbours by latent distance (clickable) and, for VAEs, where decodes sampled from q(z|x) disagree."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from core.image.embedding import SPREAD_SAMPLES, ItemView

from .image_grid import ImageGrid
from .map_view import thumbnail_pixmap

NEIGHBOUR_PX = 52
NEIGHBOURS_PER_ROW = 4
HINT = "Click a point on the map to inspect it"


def heatmap(values: np.ndarray) -> np.ndarray:
    """An (H, W) array as a uint8 (1, 3, H, W) picture, 'inferno' from 0 to its maximum."""
    top = float(values.max()) or 1.0
    rgb = pg.colormap.get("inferno").map(np.clip(values / top, 0, 1).ravel(), mode="byte")[:, :3]
    return rgb.reshape(*values.shape, 3).transpose(2, 0, 1)[None]


class Inspector(QWidget):
    neighbour_clicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.index = -1
        self.neighbours = np.zeros(0, np.int64)
        self.header = QLabel(HINT)
        self.header.setWordWrap(True)
        self.header.setStyleSheet("font-weight: 600;")
        self.original = ImageGrid("original")
        self.reconstruction = ImageGrid("reconstruction")
        self.spread = ImageGrid("uncertainty")
        self.spread.setToolTip(f"Per-pixel standard deviation of {SPREAD_SAMPLES} decodes of codes sampled from "
                               "q(z|x): bright where the model is unsure (VAEs only)")
        pictures = QHBoxLayout()
        for grid in (self.original, self.reconstruction, self.spread):
            grid.setFixedHeight(130)
            pictures.addWidget(grid)
        self.code_plot = pg.PlotWidget()
        self.code_plot.setFixedHeight(110)
        self.code_plot.setMouseEnabled(False, False)
        self.code_plot.hideButtons()
        self.code_plot.getPlotItem().setTitle("latent code", size="9pt")
        self.code_bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush="#3b6ea8", pen=None)
        self.code_plot.addItem(self.code_bars)
        self.neighbour_caption = QLabel("")
        self.neighbour_caption.setWordWrap(True)
        self.neighbour_grid = QGridLayout()
        self.neighbour_grid.setSpacing(3)
        self.neighbour_buttons: list[QToolButton] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.header)
        layout.addLayout(pictures)
        layout.addWidget(self.code_plot)
        layout.addWidget(self.neighbour_caption)
        layout.addLayout(self.neighbour_grid)
        layout.addStretch(1)
        self.clear()

    def clear(self, message: str = HINT) -> None:
        self.index = -1
        self.neighbours = np.zeros(0, np.int64)
        self.header.setText(message)
        self.original.title.setText("original")
        for grid in (self.original, self.reconstruction, self.spread):
            grid.clear()
            grid.hide()
        self.code_plot.setVisible(False)
        self.neighbour_caption.setText("")
        self._set_neighbour_buttons(0)

    def show_item(self, view: ItemView, title: str, images: np.ndarray, names: list[str],
                  original_title: str = "original") -> None:
        """Fill in ``view`` under the heading ``title``: one of the points whose uint8 ``images`` and label
        ``names`` are given (for its neighbours)."""
        i = view.index
        self.index, self.neighbours = i, view.neighbours
        self.header.setText(title)
        self.original.title.setText(original_title)
        self.original.set_images(view.original[None])
        self.original.show()
        self.reconstruction.setVisible(view.reconstruction is not None)
        if view.reconstruction is not None:
            self.reconstruction.set_images(view.reconstruction[None])
        self.spread.setVisible(view.spread is not None)
        if view.spread is not None:
            self.spread.set_images(heatmap(view.spread))
            self.spread.title.setText(f"uncertainty (max σ {float(view.spread.max()):.2f})")
        self.code_plot.setVisible(view.code is not None)
        if view.code is not None:
            self.code_bars.setOpts(x=np.arange(len(view.code)), height=view.code, width=0.8)
            self.code_plot.getPlotItem().setTitle(f"latent code ({len(view.code)} dims)", size="9pt")
            self.code_plot.autoRange()
        space = "latent" if view.code is not None else "pixel"
        caption = f"{len(view.neighbours)} nearest by {space} distance"
        if names[i]:
            same = sum(names[j] == names[i] for j in view.neighbours)
            caption += f" — {same} share its label"
        self.neighbour_caption.setText(caption + " (click one to inspect it)")
        self._set_neighbour_buttons(len(view.neighbours))
        for button, j, d in zip(self.neighbour_buttons, view.neighbours, view.distances):
            button.setIcon(QIcon(thumbnail_pixmap(images[int(j)], NEIGHBOUR_PX)))
            button.setToolTip(f"#{int(j)}{' · ' + names[j] if names[j] else ''} — distance {float(d):.3g}")
            button.setProperty("index", int(j))

    def _set_neighbour_buttons(self, count: int) -> None:
        while len(self.neighbour_buttons) < count:
            button = QToolButton()
            button.setIconSize(QSize(NEIGHBOUR_PX, NEIGHBOUR_PX))
            button.setAutoRaise(True)
            button.clicked.connect(lambda _checked=False, b=button: self.neighbour_clicked.emit(b.property("index")))
            k = len(self.neighbour_buttons)
            self.neighbour_grid.addWidget(button, k // NEIGHBOURS_PER_ROW, k % NEIGHBOURS_PER_ROW,
                                          Qt.AlignmentFlag.AlignLeft)
            self.neighbour_buttons.append(button)
        for k, button in enumerate(self.neighbour_buttons):
            button.setVisible(k < count)
