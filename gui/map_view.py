"""The embedding map's canvas: a pyqtgraph scatter of every item, coloured by label with a legend,
whose dots give way to the images themselves as the user zooms in.

Level of detail: the view is cut into cells a little wider than a thumbnail. Images show as soon as the
points in view fit on screen, one per cell, or are spread so thinly that the cells they occupy hold at most
``OCCUPANCY`` each: at the largest size, from the smallest legible one (``LEGIBLE_PX``) up to the one the
user chose in steps of ``SIZE_STEP`` px, at which that holds, so images appear small and grow to the
chosen size as the user zooms in. Each occupied cell shows one item's image (the same item while
panning). Thumbnail items come from a recycled pool and their pixmaps from an LRU cache, so a
70,000-point map pans and zooms smoothly.

Hovering a point labels it (index and label) for as long as the mouse stays on it; a click emits
``point_clicked``; with the rectangle or lasso tool a left drag draws a selection and emits
``selection_drawn`` with the indices inside. The legend can be hidden and dragged (``legend_moved``
reports where to); clicking a class in it hides or shows its points. Images arrive as uint8 arrays.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsPixmapItem, QLabel
from scipy.spatial import cKDTree

from core.image.embedding import points_in_polygon

from .image_grid import image_to_qimage

MAX_THUMBNAILS = 1000  # at most this many images at once, whatever the screen
CELL = 1.2  # cell side, in thumbnail sides: a little room between neighbouring images
LEGIBLE_PX = 20  # the smallest thumbnail that still reads as a picture
OCCUPANCY = 4.0  # ...or when the cells the points in view occupy hold at most this many each
SIZE_STEP = 4  # thumbnails grow from LEGIBLE_PX to the chosen size in steps of this many px
PIXMAP_CACHE = 3000
DOT_SIZE = 7
PICK_RADIUS_PX = 8
TOOLS = ("pan", "rect", "lasso")
#: Matplotlib's "tab10": ten well-separated colours for the common case of at most ten classes.
TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
         "#17becf"]
UNLABELLED = "#3b6ea8"
LEGEND_ROWS = 10  # a legend of many classes fills columns of this many rows
LEGEND_COMPACT = 12  # above this many classes the legend uses smaller entries


def class_colours(n: int) -> list[QColor]:
    """One colour per class: tab10 up to ten classes, evenly spaced hues beyond."""
    if n <= len(TAB10):
        return [QColor(c) for c in TAB10[:max(n, 1)]]
    return [pg.intColor(i, hues=n, values=1, maxValue=220, minValue=150) for i in range(n)]


def thumbnail_pixmap(image: np.ndarray, size: int, frame: QColor | None = None, border: int = 2) -> QPixmap:
    """``image`` (uint8 C, H, W) scaled to fit ``size`` px (crisp pixels when enlarged 2x or more), in a frame."""
    picture = image_to_qimage(image)
    inner = size - 2 * border if frame is not None else size
    smooth = inner < 2 * max(picture.width(), picture.height())  # crisp pixels only for big enlargements
    picture = picture.scaled(inner, inner, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation if smooth
                             else Qt.TransformationMode.FastTransformation)
    if frame is None:
        return QPixmap.fromImage(picture)
    pixmap = QPixmap(picture.width() + 2 * border, picture.height() + 2 * border)
    pixmap.fill(frame)
    painter = QPainter(pixmap)
    painter.drawImage(border, border, picture)
    painter.end()
    return pixmap


class MapViewBox(pg.ViewBox):
    """A ViewBox whose left drag draws a selection outline when the rectangle or lasso tool is on."""

    def __init__(self, on_polygon):
        super().__init__()
        self.tool = "pan"
        self._on_polygon = on_polygon  # called with the (M, 2) outline in view coordinates and the modifiers
        self._points: list[QPointF] = []
        pen = QPen(QColor("#24292f"), 1.5, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.outline = QGraphicsPathItem()
        self.outline.setPen(pen)
        self.outline.setBrush(QColor(36, 41, 47, 30))
        self.outline.setZValue(100)
        self.addItem(self.outline, ignoreBounds=True)
        self.outline.hide()

    def mouseDragEvent(self, ev, axis=None):
        if self.tool == "pan" or ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        here = self.mapSceneToView(ev.scenePos())
        if ev.isStart():
            self._points = [self.mapSceneToView(ev.buttonDownScenePos())]
        if self.tool == "rect":
            a = self._points[0]
            self._points = [a, QPointF(here.x(), a.y()), here, QPointF(a.x(), here.y())]
        else:
            self._points.append(here)
        path = QPainterPath()
        path.addPolygon(self._points)
        path.closeSubpath()
        self.outline.setPath(path)
        self.outline.show()
        if ev.isFinish():
            self.outline.hide()
            polygon = np.array([[p.x(), p.y()] for p in self._points])
            self._points = []
            self._on_polygon(polygon, ev.modifiers())


class MapLegend(pg.GraphicsWidgetAnchor, pg.GraphicsWidget):
    """The classes' colours, in columns of at most ``LEGEND_ROWS`` (smaller text for many classes). A click on
    an entry hides or shows its class (``toggled``); a left drag moves the legend, which stays where it is
    put (``moved`` reports its offset, in pyqtgraph's convention: positive from the left/top of the map,
    zero or negative from the right/bottom)."""
    toggled = Signal(int, bool)  # class, visible
    moved = Signal(object)
    PAD, DOT, GAP = 6, 9, 12

    def __init__(self):
        pg.GraphicsWidget.__init__(self)
        pg.GraphicsWidgetAnchor.__init__(self)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.names: list[str] = []
        self.colours: list[QColor] = []
        self.hidden: set[int] = set()
        self.offset = (8.0, 8.0)
        self.font = QFont()
        self._rows, self._column, self._row = 1, 0.0, 0.0  # rows per column, column width, row height

    def set_classes(self, colours: list[QColor], names: list[str]) -> None:
        self.colours, self.names, self.hidden = list(colours), list(names), set()
        compact = len(names) > LEGEND_COMPACT
        self.font.setPointSizeF(8 if compact else 9)
        metrics = QFontMetricsF(self.font)
        self._rows = min(len(names), LEGEND_ROWS) if compact else max(len(names), 1)
        columns = math.ceil(len(names) / self._rows) if names else 0
        self._row = metrics.height() + (1 if compact else 4)
        self._column = self.DOT + 5 + max((metrics.horizontalAdvance(n) for n in names), default=0) + self.GAP
        self.resize(2 * self.PAD + columns * self._column - self.GAP, 2 * self.PAD + self._rows * self._row)
        self.set_offset(self.offset)
        self.update()

    def set_offset(self, offset: tuple[float, float]) -> None:
        """Put the legend ``offset`` px from the map's edges (pyqtgraph's ``LegendItem.setOffset``)."""
        self.offset = (float(offset[0]), float(offset[1]))
        corner = (1 if self.offset[0] <= 0 else 0, 1 if self.offset[1] <= 0 else 0)
        if self.parentItem() is not None:
            self.anchor(itemPos=corner, parentPos=corner, offset=self.offset)

    def entry_rect(self, k: int) -> QRectF:
        column, row = divmod(k, self._rows)
        return QRectF(self.PAD + column * self._column, self.PAD + row * self._row, self._column - self.GAP,
                      self._row)

    def entry_at(self, pos: QPointF) -> int | None:
        """The class whose entry is at ``pos`` (in the legend), if any."""
        return next((k for k in range(len(self.names)) if self.entry_rect(k).contains(pos)), None)

    def paint(self, p, *args) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(QColor(190, 190, 190)))
        p.setBrush(QColor(255, 255, 255, 240))
        p.drawRect(self.boundingRect().adjusted(0.5, 0.5, -0.5, -0.5))
        p.setFont(self.font)
        for k, (colour, name) in enumerate(zip(self.colours, self.names)):
            rect = self.entry_rect(k)
            dot = QRectF(rect.left(), rect.center().y() - self.DOT / 2, self.DOT, self.DOT)
            p.setPen(QPen(colour, 1.5))
            p.setBrush(Qt.BrushStyle.NoBrush if k in self.hidden else colour)
            p.drawEllipse(dot.adjusted(0.75, 0.75, -0.75, -0.75))
            p.setPen(QColor("#8c959f") if k in self.hidden else QColor("#24292f"))
            p.drawText(rect.adjusted(self.DOT + 5, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter, name)

    def hoverEvent(self, ev) -> None:
        if not ev.isExit():
            ev.acceptDrags(Qt.MouseButton.LeftButton)
            ev.acceptClicks(Qt.MouseButton.LeftButton)

    def mouseClickEvent(self, ev) -> None:
        k = self.entry_at(ev.pos()) if ev.button() == Qt.MouseButton.LeftButton else None
        if k is None:
            return
        ev.accept()
        self.hidden ^= {k}
        self.update()
        self.toggled.emit(k, k not in self.hidden)

    def mouseDragEvent(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            return
        ev.accept()
        self.set_offset(self._offset_at(self.pos() + ev.pos() - ev.lastPos()))
        if ev.isFinish():
            self.moved.emit(self.offset)

    def _offset_at(self, pos: QPointF) -> tuple[float, float]:
        """The offset that puts the legend's corner at ``pos`` (in the map), from the nearest edges."""
        size, parent = self.boundingRect(), self.parentItem().boundingRect()
        x = min(max(pos.x(), 0.0), max(parent.width() - size.width(), 0.0))
        y = min(max(pos.y(), 0.0), max(parent.height() - size.height(), 0.0))
        right, bottom = x + size.width() - parent.width(), y + size.height() - parent.height()
        return (max(x, 1.0) if x < -right else min(right, 0.0), max(y, 1.0) if y < -bottom else min(bottom, 0.0))


class ThumbnailLayer:
    """Image items for some points: a recycled pool of pixmap items at constant pixel size, ``size`` px."""

    def __init__(self, viewbox: pg.ViewBox):
        self.viewbox = viewbox
        self.shown: dict[int, QGraphicsPixmapItem] = {}
        self._free: list[QGraphicsPixmapItem] = []
        self._pixmaps: OrderedDict[tuple[int, int], QPixmap] = OrderedDict()  # by (point, size)
        self.images: np.ndarray | None = None
        self.coords = np.zeros((0, 2))
        self.frames: list[QColor] = []  # per point
        self.size = 36

    def reset(self, images: np.ndarray | None, coords: np.ndarray, frames: list[QColor]) -> None:
        self.show([])
        self._pixmaps.clear()
        self.images, self.coords, self.frames = images, coords, frames

    def set_size(self, size: int) -> None:
        """Draw the images ``size`` px wide from now on (those on show at once)."""
        if size != self.size:
            self.size = size
            for i, item in self.shown.items():
                self._place(item, i)

    def _pixmap(self, i: int) -> QPixmap:
        key = (i, self.size)
        pixmap = self._pixmaps.get(key)
        if pixmap is None:
            pixmap = thumbnail_pixmap(self.images[i], self.size, self.frames[i])
            self._pixmaps[key] = pixmap
            if len(self._pixmaps) > PIXMAP_CACHE:
                self._pixmaps.popitem(last=False)
        else:
            self._pixmaps.move_to_end(key)
        return pixmap

    def _place(self, item: QGraphicsPixmapItem, i: int) -> None:
        pixmap = self._pixmap(i)
        item.setPixmap(pixmap)
        item.setOffset(-pixmap.width() / 2, -pixmap.height() / 2)
        item.setPos(float(self.coords[i, 0]), float(self.coords[i, 1]))

    def show(self, indices, front: int = -1) -> None:
        """Show exactly the images of ``indices`` (``front`` above the others); items already showing one
        of them are kept."""
        wanted = {int(i) for i in indices}
        for i in [i for i in self.shown if i not in wanted]:
            item = self.shown.pop(i)
            item.hide()
            self._free.append(item)
        for i in wanted - self.shown.keys():
            item = self._free.pop() if self._free else self._new_item()
            self._place(item, i)
            item.show()
            self.shown[i] = item
        for i, item in self.shown.items():
            item.setZValue(11 if i == front else 10)

    def _new_item(self) -> QGraphicsPixmapItem:
        item = QGraphicsPixmapItem()
        item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        item.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self.viewbox.addItem(item, ignoreBounds=True)
        return item

    def index_at(self, view_pos: QPointF, pixel: tuple[float, float]) -> int | None:
        """The shown image under a view position (the one whose centre is nearest), if any."""
        if not self.shown:
            return None
        idx = np.fromiter(self.shown, dtype=np.int64)
        dx = np.abs(self.coords[idx, 0] - view_pos.x()) / pixel[0]
        dy = np.abs(self.coords[idx, 1] - view_pos.y()) / pixel[1]
        inside = (dx <= self.size / 2) & (dy <= self.size / 2)
        if not inside.any():
            return None
        return int(idx[inside][np.argmin((dx * dx + dy * dy)[inside])])


class MapView(pg.PlotWidget):
    point_clicked = Signal(int)
    selection_drawn = Signal(object, bool)  # indices (int64 array), add to the current selection
    legend_moved = Signal(object)  # the legend's new offset (x, y), pyqtgraph's convention

    def __init__(self, parent=None):
        self.viewbox = MapViewBox(self._polygon_drawn)
        super().__init__(parent, viewBox=self.viewbox)
        item = self.getPlotItem()
        item.hideAxis("left")
        item.hideAxis("bottom")
        item.hideButtons()
        self.viewbox.setAspectLocked(True)
        self.scatter = pg.ScatterPlotItem(size=DOT_SIZE, pen=None, antialias=False)
        # rings: under the images (z < 10) for neighbours, which show as images when zoomed in anyway;
        # above them for the selection, the item under the mouse, and around the inspected item's image
        self.marks = {name: pg.ScatterPlotItem(size=size, pen=pg.mkPen(colour, width=width), brush=None, symbol="o")
                      for name, size, colour, width in (("neighbours", 15, "#e8590c", 2.0),
                                                        ("selection", 11, "#24292f", 1.2),
                                                        ("hover", 14, "#24292f", 2.0),
                                                        ("current", 50, "#d6336c", 3.0))}
        self.addItem(self.scatter)
        for z, mark in zip((5, 20, 21, 22), self.marks.values()):
            mark.setZValue(z)
            self.addItem(mark)
        self.hover_label = pg.TextItem("", color="#24292f", anchor=(0, 1), fill=pg.mkBrush(255, 255, 255, 230),
                                       border=pg.mkPen("#8c959f"))
        self.hover_label.setZValue(900)
        self.viewbox.addItem(self.hover_label, ignoreBounds=True)
        self.hover_label.hide()
        self.legend = MapLegend()
        self.legend.setParentItem(item.vb)
        self.legend.set_offset(self.legend.offset)
        self.legend.setZValue(1000)  # above the images
        self.legend.moved.connect(self.legend_moved)
        self.legend.toggled.connect(self.set_class_visible)
        self.legend_wanted = True
        self.empty_note = QLabel(self)
        self.empty_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_note.setWordWrap(True)
        self.empty_note.setStyleSheet("color: #57606a; font-size: 11pt; background: transparent;")
        self.thumbnails = ThumbnailLayer(self.viewbox)
        self.thumbnail_px = 36  # the size the user chose: the largest images get
        self.show_images = True
        self.coords = np.zeros((0, 2), np.float32)
        self.labels: np.ndarray | None = None
        self.names: list[str] = []
        self.visible_mask = np.zeros(0, bool)
        self._rank = np.zeros(0, np.int64)
        self._tree: cKDTree | None = None
        self._tree_index = np.zeros(0, np.int64)
        self.current = np.zeros(0, np.int64)  # the inspected item and its neighbours
        self.hover_index = -1
        self.hover_text = ""
        self._detail_timer = QTimer(self, singleShot=True, interval=0, timeout=self.update_detail)
        self.viewbox.sigRangeChanged.connect(lambda *_: self._detail_timer.start())
        self.scene().sigMouseMoved.connect(self._mouse_moved)
        self.scene().sigMouseClicked.connect(self._mouse_clicked)
        self.setMouseTracking(True)
        self.clear_map()

    # --- content --------------------------------------------------------------------------
    def set_map(self, coords: np.ndarray, images: np.ndarray, labels: np.ndarray | None = None,
                class_names: list[str] | None = None, thumbnail_size: int = 36) -> None:
        """Show ``coords`` (N, 2) of ``images`` (uint8 N, C, H, W), coloured by ``labels`` (class indices
        named by ``class_names``)."""
        self.coords = np.asarray(coords, np.float64)
        n = len(self.coords)
        self.labels = None if labels is None else np.asarray(labels, np.int64)
        self.names = list(class_names or []) if self.labels is not None else []
        colours = class_colours(len(self.names)) if self.names else [QColor(UNLABELLED)]
        brushes = [pg.mkBrush(c) for c in colours]
        per_point = [brushes[i] for i in self.labels] if self.labels is not None else brushes[0]
        self.scatter.setData(pos=self.coords, brush=per_point, size=DOT_SIZE, pen=None)
        frames = [colours[i] for i in self.labels] if self.labels is not None else [colours[0]] * n
        self._rank = np.random.default_rng(0).permutation(n)
        self._build_legend(colours if self.names else [])
        self.visible_mask = np.ones(n, bool)
        self._build_tree()
        for name in self.marks:
            self._mark(name, [])
        self._hover(-1)
        self.current = np.zeros(0, np.int64)
        self.thumbnail_px = thumbnail_size
        self.thumbnails.reset(images, self.coords, frames)
        self.empty_note.setVisible(n == 0)
        self.fit()

    def clear_map(self, note: str = "") -> None:
        """No points; ``note`` in the middle says why (or what to do)."""
        self.set_map(np.zeros((0, 2)), np.zeros((0, 1, 1, 1), np.uint8))
        self.empty_note.setText(note)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if "empty_note" in self.__dict__:  # (pyqtgraph resizes the view before __init__ made it)
            self.empty_note.setGeometry(self.rect().adjusted(40, 40, -40, -40))

    def _build_legend(self, colours: list[QColor]) -> None:
        self.legend.set_classes(colours, self.names)
        self.legend.setVisible(bool(colours) and self.legend_wanted)

    def set_legend_shown(self, shown: bool) -> None:
        self.legend_wanted = shown
        self.legend.setVisible(shown and bool(self.legend.names))

    def set_legend_offset(self, offset: tuple[float, float]) -> None:
        self.legend.set_offset(offset)

    def set_class_visible(self, label: int, visible: bool) -> None:
        """Show or hide the points of one class (what a click on its legend entry does)."""
        if self.labels is None:
            return
        self.visible_mask[self.labels == label] = visible
        self.scatter.setPointsVisible(self.visible_mask)
        self._build_tree()
        self._detail_timer.start()

    def _build_tree(self) -> None:
        self._tree_index = np.flatnonzero(self.visible_mask)
        self._tree = cKDTree(self.coords[self._tree_index]) if len(self._tree_index) else None

    def fit(self) -> None:
        if len(self.coords):
            self.viewbox.autoRange(padding=0.04, items=[self.scatter])

    def zoom_to(self, index: int, count: int) -> None:
        """Centre on item ``index`` with about ``count`` items in view."""
        if self._tree is None:
            return
        d, _ = self._tree.query(self.coords[index], k=min(count, len(self._tree_index)))
        r = float(np.max(d)) or 1.0
        x, y = self.coords[index]
        self.viewbox.setRange(xRange=(x - r, x + r), yRange=(y - r, y + r), padding=0)

    def set_thumbnail_size(self, size: int) -> None:
        """The size images grow to when few enough points are in view."""
        self.thumbnail_px = size
        self._detail_timer.start()

    def set_show_images(self, on: bool) -> None:
        self.show_images = on
        self.update_detail()

    # --- marks ----------------------------------------------------------------------------
    def _mark(self, name: str, indices) -> None:
        idx = np.asarray(indices, np.int64).reshape(-1)
        idx = idx[(idx >= 0) & (idx < len(self.coords))]
        if len(idx):
            self.marks[name].setData(pos=self.coords[idx])
        else:
            self.marks[name].clear()
        self.marks[name].setVisible(len(idx) > 0)  # an empty scatter still costs a paint

    def set_selection(self, indices) -> None:
        self._mark("selection", indices)

    def set_current(self, index: int, neighbours=()) -> None:
        """Mark the inspected item and its neighbours; in image mode their images always show."""
        self.current = np.concatenate([[index], np.asarray(neighbours, np.int64)]).astype(np.int64)
        self._mark("current", [index])
        self._mark("neighbours", neighbours)
        self._detail_timer.start()

    # --- level of detail ------------------------------------------------------------------
    def in_view(self) -> np.ndarray:
        """Indices of the visible points inside the view rectangle."""
        r = self.viewbox.viewRect()
        x, y = self.coords[:, 0], self.coords[:, 1]
        return np.flatnonzero(self.visible_mask & (x >= r.left()) & (x <= r.right()) & (y >= r.top())
                              & (y <= r.bottom()))

    def images_fit(self, size: int) -> int:
        """How many images ``size`` px wide fit on screen, one per cell."""
        cell = size * CELL
        box = self.viewbox.boundingRect()
        return int(box.width() // cell) * int(box.height() // cell)

    def _one_per_cell(self, idx: np.ndarray, size: int) -> np.ndarray:
        """Of the points ``idx``, the first (by a fixed random rank) in each occupied cell of ``size`` px images."""
        pw, ph = self.viewbox.viewPixelSize()
        cell = size * CELL
        cells = (np.floor(self.coords[idx, 0] / (cell * pw)).astype(np.int64) * 1_000_003
                 + np.floor(self.coords[idx, 1] / (cell * ph)).astype(np.int64))
        order = np.argsort(self._rank[idx], kind="stable")
        _, first = np.unique(cells[order], return_index=True)
        return idx[order[np.sort(first)]]

    def detail(self, idx: np.ndarray) -> tuple[int | None, np.ndarray]:
        """The size images show at for the points ``idx`` in view, and the points whose images show: the
        largest size, from ``LEGIBLE_PX`` up to the chosen one in steps of ``SIZE_STEP`` px, at which the
        points all fit on screen one per cell, or are spread so thinly that the cells they occupy hold at
        most ``OCCUPANCY`` each; (None, no points) when neither holds even at the smallest size."""
        smallest = min(LEGIBLE_PX, self.thumbnail_px)
        for size in sorted({self.thumbnail_px, *range(smallest, self.thumbnail_px, SIZE_STEP)}, reverse=True):
            fit = self.images_fit(size)
            if len(idx) == 0 or len(idx) > OCCUPANCY * fit:
                continue  # too many even if every cell on screen held some
            chosen = self._one_per_cell(idx, size)
            if len(idx) <= fit or len(idx) <= OCCUPANCY * len(chosen):
                return size, chosen[:MAX_THUMBNAILS]
        return None, idx[:0]

    def update_detail(self) -> None:
        """Pick the points whose images show now, and their size (see the module docstring)."""
        idx = self.in_view() if self.show_images and self.thumbnails.images is not None else np.zeros(0, np.int64)
        size, chosen = self.detail(idx)
        if size is None:
            self.thumbnails.show([])
            return
        self.thumbnails.set_size(size)
        self.thumbnails.show(np.union1d(chosen, np.intersect1d(self.current, idx)),
                             front=int(self.current[0]) if len(self.current) else -1)

    # --- mouse ----------------------------------------------------------------------------
    def index_at(self, scene_pos: QPointF) -> int | None:
        """The point (or shown image) under a scene position, within a few pixels."""
        if self._tree is None or not self.viewbox.sceneBoundingRect().contains(scene_pos):
            return None
        view_pos = self.viewbox.mapSceneToView(scene_pos)
        pw, ph = self.viewbox.viewPixelSize()
        on_image = self.thumbnails.index_at(view_pos, (pw, ph))
        if on_image is not None:
            return on_image
        d, j = self._tree.query([view_pos.x(), view_pos.y()], k=1, distance_upper_bound=PICK_RADIUS_PX * pw)
        return int(self._tree_index[j]) if np.isfinite(d) else None

    def describe(self, index: int) -> str:
        if self.labels is None:
            return f"#{index}"
        return f"#{index} · {self.names[self.labels[index]]}"

    def _mouse_moved(self, scene_pos: QPointF) -> None:
        index = self.index_at(scene_pos)
        self._hover(-1 if index is None else index)

    def _hover(self, index: int) -> None:
        """Ring and label the point under the mouse; they stay until the mouse leaves it."""
        if index == self.hover_index:
            return
        self.hover_index = index
        self._mark("hover", [index])
        self.hover_text = self.describe(index) if index >= 0 else ""
        self.hover_label.setText(self.hover_text)
        if index >= 0:
            self.hover_label.setPos(float(self.coords[index, 0]), float(self.coords[index, 1]))
        self.hover_label.setVisible(index >= 0)

    def leaveEvent(self, event) -> None:
        super().leaveEvent(event)
        self._hover(-1)

    def _mouse_clicked(self, ev) -> None:
        on_legend = self.legend.isVisible() and self.legend.sceneBoundingRect().contains(ev.scenePos())
        if ev.button() != Qt.MouseButton.LeftButton or on_legend:
            return
        if ev.double():
            self.fit()
            return
        index = self.index_at(ev.scenePos())
        if index is not None:
            ev.accept()
            self.point_clicked.emit(index)

    def _polygon_drawn(self, polygon: np.ndarray, modifiers) -> None:
        inside = points_in_polygon(self.coords, polygon) & self.visible_mask
        add = bool(modifiers & Qt.KeyboardModifier.ShiftModifier)
        self.selection_drawn.emit(np.flatnonzero(inside).astype(np.int64), add)
