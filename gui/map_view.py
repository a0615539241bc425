"""The embedding map's canvas: every item, coloured by label with a legend, drawn at any size: a
density image while many points are in view, dots once few enough are, and the images themselves as
the user zooms in further.

Drawing: the points live in a ``core.image.map_grid.MapGrid`` (a grid index and a pyramid of density
images of the whole map). With over ``DOTS_MAX`` points in view the view shows the pyramid's image whose
cells are about a screen pixel (nothing is computed while panning and zooming); zoomed in past its finest
cells, a sharp density image of the points in view follows once the view rests (``SHARP_MS``). With fewer
points in view they are drawn as dots into an image a margin larger than the view, redrawn only when the
view leaves it or the zoom changes enough. Cluster names (``set_clusters``) stay a constant size and are
shown largest cluster first wherever they do not overlap.

Level of detail: the view is cut into cells a little wider than a thumbnail. Images show as soon as the
points in view fit on screen, one per cell, or are spread so thinly that the cells they occupy hold at most
``OCCUPANCY`` each: at the largest size, from the smallest legible one (``LEGIBLE_PX``) up to the one the
user chose in steps of ``SIZE_STEP`` px, at which that holds, so images appear small and grow to the
chosen size as the user zooms in. Each occupied cell shows one item's image (the same item while
panning). Thumbnail items come from a recycled pool and their pixmaps from an LRU cache held to
``PIXMAP_CACHE_BYTES`` (its memory stays bounded however long the user zooms), so a
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
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsItem, QGraphicsObject, QGraphicsPathItem, QGraphicsPixmapItem, QLabel

from core.image.embedding import points_in_polygon
from core.image.map_grid import Density, MapGrid

from .image_grid import image_to_qimage

MAX_THUMBNAILS = 1000  # at most this many images at once, whatever the screen
CELL = 1.2  # cell side, in thumbnail sides: a little room between neighbouring images
LEGIBLE_PX = 20  # the smallest thumbnail that still reads as a picture
OCCUPANCY = 4.0  # ...or when the cells the points in view occupy hold at most this many each
SIZE_STEP = 4  # thumbnails grow from LEGIBLE_PX to the chosen size in steps of this many px
PIXMAP_CACHE_BYTES = 12_000_000  # the thumbnail pixmaps kept for reuse: a budget in bytes (not a count, which at
# 96 px and every size from LEGIBLE_PX up held over 100 MB): about four screens of images at 96 px, more when smaller
DOTS_MAX = 40_000  # with more points than this in view, the map is a density image
DOT_RADII = ((3_000, 3), (15_000, 2), (DOTS_MAX, 1))  # dot radius (px) for up to this many points in view
DOTS_MARGIN = 0.25  # dots are drawn this fraction of the view's size beyond each of its sides
SHARP_MS = 120  # a rested view zoomed past the finest density image gets its own after this long
SHARP_MAX = 600_000  # ...if it holds at most this many points
MARKS_MAX = 3_000  # a larger selection shows as a tint, not as rings
TINT_CELLS = 4  # a pixel of that tint is this many of the grid's cells wide
PICK_RADIUS_PX = 8
ZOOM_TO_ONE = 50  # a search for one item shows it among about this many
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


def pixmap_bytes(pixmap: QPixmap) -> int:
    """The memory a pixmap's pixels take."""
    return pixmap.width() * pixmap.height() * pixmap.depth() // 8


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
        self._pixmaps: OrderedDict[tuple[int, int], QPixmap] = OrderedDict()  # by (point, size), least recent first
        self.cached_bytes = 0  # the pixels of the pixmaps in ``_pixmaps``
        self.images: np.ndarray | None = None
        self.coords = np.zeros((0, 2))
        self.frames: list[QColor] = []  # per class
        self.labels: np.ndarray | None = None  # each point's class (None: all of the first)
        self.size = 36

    def reset(self, images: np.ndarray | None, coords: np.ndarray, frames: list[QColor],
              labels: np.ndarray | None) -> None:
        self.show([])
        self._pixmaps.clear()
        self.cached_bytes = 0
        self.images, self.coords, self.frames, self.labels = images, coords, frames, labels

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
            frame = self.frames[self.labels[i] if self.labels is not None else 0]
            pixmap = thumbnail_pixmap(np.asarray(self.images[i]), self.size, frame)
            self._pixmaps[key] = pixmap
            self.cached_bytes += pixmap_bytes(pixmap)
            while self.cached_bytes > PIXMAP_CACHE_BYTES and len(self._pixmaps) > 1:
                self.cached_bytes -= pixmap_bytes(self._pixmaps.popitem(last=False)[1])
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
            item.setPixmap(QPixmap())  # an idle item holds no image: the cache alone decides which stay
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


class RasterItem(QGraphicsObject):
    """A ``Density`` image in map coordinates (drawn as it is: no copy, no conversion)."""

    def __init__(self):
        super().__init__()
        self.density: Density | None = None
        self._image: QImage | None = None
        self._rect = QRectF()

    def set_density(self, density: Density | None) -> None:
        if density is self.density:
            return
        self.prepareGeometryChange()
        self.density = density
        if density is None:
            self._image, self._rect = None, QRectF()
        else:
            h, w = density.bgra.shape[:2]
            self._image = QImage(density.bgra.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied)
            self._rect = QRectF(density.origin[0], density.origin[1], w * density.cell, h * density.cell)
        self.update()

    def covers(self, rect: QRectF, pixel: float, tolerance: float) -> bool:
        """Whether it holds all of ``rect`` at about ``pixel`` map units per pixel (within ``tolerance``×)."""
        return (self.density is not None and self._rect.contains(rect)
                and 1 / tolerance <= self.density.cell / pixel <= tolerance)

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, p, *args) -> None:
        if self._image is not None:
            p.drawImage(self._rect, self._image)


class ClusterNames:
    """Cluster names at their clusters' centres, a constant size at every zoom; the largest clusters'
    names first, a name left out where it would overlap one already shown."""

    def __init__(self, viewbox: pg.ViewBox):
        self.viewbox = viewbox
        self.items: list[pg.TextItem] = []

    def set_clusters(self, clusters) -> None:
        """``clusters``: (x, y, name) of each cluster, largest first."""
        for item in self.items:
            self.viewbox.removeItem(item)
        self.items = []
        for x, y, name in clusters:
            item = pg.TextItem(name, color="#24292f", anchor=(0.5, 0.5), fill=pg.mkBrush(255, 255, 255, 200),
                               border=pg.mkPen(200, 200, 200))
            item.setPos(float(x), float(y))
            item.setZValue(800)
            self.viewbox.addItem(item, ignoreBounds=True)
            self.items.append(item)
        self.arrange()

    def arrange(self, shown: bool = True) -> None:
        """Show the names that fit (none when not ``shown``)."""
        taken: list[QRectF] = []
        view = self.viewbox.sceneBoundingRect()
        for item in self.items:
            rect = item.sceneBoundingRect()
            fits = shown and view.contains(rect.center()) and not any(rect.intersects(t) for t in taken)
            item.setVisible(fits)
            if fits:
                taken.append(rect.adjusted(-4, -2, 4, 2))

    @property
    def shown(self) -> list[str]:
        return [item.textItem.toPlainText() for item in self.items if item.isVisible()]


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
        self.density = RasterItem()  # the pyramid's image, or the rested view's own
        self.dots = RasterItem()
        self.selection_tint = RasterItem()
        self.dots_indices = np.zeros(0, np.int64)  # the points drawn as dots
        for z, raster in enumerate((self.density, self.dots, self.selection_tint)):
            raster.setZValue(z)
            self.viewbox.addItem(raster, ignoreBounds=True)
        self.selection_tint.setOpacity(0.6)
        # rings: under the images (z < 10) for neighbours, which show as images when zoomed in anyway;
        # above them for the selection, the item under the mouse, and around the inspected item's image
        self.marks = {name: pg.ScatterPlotItem(size=size, pen=pg.mkPen(colour, width=width), brush=None, symbol="o")
                      for name, size, colour, width in (("neighbours", 15, "#e8590c", 2.0),
                                                        ("selection", 11, "#24292f", 1.2),
                                                        ("hover", 14, "#24292f", 2.0),
                                                        ("current", 50, "#d6336c", 3.0))}
        for z, mark in zip((5, 20, 21, 22), self.marks.values()):
            mark.setZValue(z)
            self.viewbox.addItem(mark, ignoreBounds=True)
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
        self.clusters = ClusterNames(self.viewbox)
        self.show_clusters = True
        self.empty_note = QLabel(self)
        self.empty_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_note.setWordWrap(True)
        self.empty_note.setStyleSheet("color: #57606a; font-size: 11pt; background: transparent;")
        self.thumbnails = ThumbnailLayer(self.viewbox)
        self.thumbnail_px = 36  # the size the user chose: the largest images get
        self.show_images = True
        self.coords = np.zeros((0, 2), np.float64)
        self.labels: np.ndarray | None = None
        self.names: list[str] = []
        self.colours: list[QColor] = []
        self.visible_mask = np.zeros(0, bool)
        self.hidden: set[int] = set()  # classes whose points are hidden
        self.grid = self._all_points = MapGrid(self.coords, np.zeros((0, 3), np.uint8))
        self._rank = np.zeros(0, np.int64)
        self.current = np.zeros(0, np.int64)  # the inspected item and its neighbours
        self.hover_index = -1
        self.hover_text = ""
        self._detail_timer = QTimer(self, singleShot=True, interval=0, timeout=self.update_detail)
        self._sharp_timer = QTimer(self, singleShot=True, interval=SHARP_MS, timeout=self._draw_sharp)
        self._sharp = False  # whether the density image is the rested view's own
        self._pyramid_timer = QTimer(self, singleShot=True, interval=0, timeout=self._build_a_level)
        self.viewbox.sigRangeChanged.connect(lambda *_: self._detail_timer.start())
        self.scene().sigMouseMoved.connect(self._mouse_moved)
        self.scene().sigMouseClicked.connect(self._mouse_clicked)
        self.setMouseTracking(True)
        self.clear_map()

    # --- content --------------------------------------------------------------------------
    def set_map(self, coords: np.ndarray, images: np.ndarray | None, labels: np.ndarray | None = None,
                class_names: list[str] | None = None, thumbnail_size: int = 36) -> None:
        """Show ``coords`` (N, 2) of ``images`` (uint8 N, C, H, W; any array that indexes so, e.g. a
        memory map), coloured by ``labels`` (class indices named by ``class_names``)."""
        self.coords = np.asarray(coords, np.float64)
        n = len(self.coords)
        self._bounds = (self.coords.min(axis=0), self.coords.max(axis=0)) if n else None
        self.labels = None if labels is None else np.asarray(labels, np.int64)
        self.names = list(class_names or []) if self.labels is not None else []
        self.colours = class_colours(len(self.names)) if self.names else [QColor(UNLABELLED)]
        self._rgb = np.array([c.getRgb()[:3] for c in self.colours], np.uint8)
        self._rank = np.random.default_rng(0).permutation(n)
        self._build_legend(self.colours if self.names else [])
        self.visible_mask = np.ones(n, bool)
        self.hidden = set()
        self._build_grid()
        self.current = np.zeros(0, np.int64)
        self.set_selection([])
        for name in self.marks:
            self._mark(name, [])
        self._hover(-1)
        self.clusters.set_clusters([])
        self.thumbnail_px = thumbnail_size
        self.thumbnails.reset(images, self.coords, self.colours, self.labels)
        self.empty_note.setVisible(n == 0)
        self.fit()
        self.update_detail()

    def clear_map(self, note: str = "") -> None:
        """No points; ``note`` in the middle says why (or what to do)."""
        self.set_map(np.zeros((0, 2)), None)
        self.empty_note.setText(note)

    def set_clusters(self, clusters) -> None:
        """Name the map's clusters: (x, y, name) of each, largest first."""
        self.clusters.set_clusters(clusters)
        self.clusters.arrange(self.show_clusters)

    def set_show_clusters(self, on: bool) -> None:
        self.show_clusters = on
        self.clusters.arrange(on)

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
        self.set_hidden_classes(self.hidden - {label} if visible else self.hidden | {label})

    def set_hidden_classes(self, hidden) -> None:
        """Hide the points of the classes ``hidden`` (and show all others)."""
        if self.labels is None:
            return
        hidden = {int(k) for k in hidden if 0 <= int(k) < len(self.names)}
        self.legend.hidden = set(hidden)
        self.legend.update()
        if hidden == self.hidden:
            return
        self.hidden = hidden
        self.visible_mask = ~np.isin(self.labels, list(hidden))
        self._use_grid(self._all_points.restricted(self.visible_mask))
        self.update_detail()

    def _build_grid(self) -> None:
        """The index and density images of all points (``grid``: of the visible ones)."""
        n = len(self.coords)
        colours = self._rgb[self.labels] if self.labels is not None else np.broadcast_to(self._rgb[0], (n, 3))
        self._all_points = MapGrid(self.coords, colours)
        self._use_grid(self._all_points)

    def _use_grid(self, grid: MapGrid) -> None:
        self.grid = grid
        if len(self.grid) > DOTS_MAX:  # the density images not drawn yet are built while the app is idle
            self._pyramid_timer.start()
        self.density.set_density(None)
        self.dots.set_density(None)
        self.dots_indices = np.zeros(0, np.int64)

    def fit(self) -> None:
        if len(self.coords):
            (x0, y0), (x1, y1) = self._bounds
            self.viewbox.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.04)

    def zoom_to(self, index: int, count: int) -> None:
        """Centre on item ``index`` with about ``count`` items in view."""
        if not len(self.grid):
            return
        x, y = self.coords[index]
        r = self.grid.radius_holding(x, y, count)
        self.viewbox.setRange(xRange=(x - r, x + r), yRange=(y - r, y + r), padding=0)

    def zoom_to_points(self, indices) -> None:
        """Show the points ``indices`` (the middle 98 % of them, so that a few strays do not zoom out)."""
        idx = np.asarray(indices, np.int64)
        if len(idx) == 1:
            self.zoom_to(int(idx[0]), ZOOM_TO_ONE)
        elif len(idx):
            lo, hi = np.percentile(self.coords[idx], [1, 99], axis=0)
            pad = 0.5 * self.grid.cell * 8
            self.viewbox.setRange(xRange=(lo[0] - pad, hi[0] + pad), yRange=(lo[1] - pad, hi[1] + pad), padding=0.05)

    def view_state(self) -> dict:
        """What is in view, to reopen it later (``set_view_state``)."""
        r = self.viewbox.viewRect()
        return {"rect": [r.left(), r.top(), r.width(), r.height()], "hidden": sorted(self.hidden)}

    def set_view_state(self, state: dict) -> None:
        """Reopen a view ``view_state`` gave (anything unreadable is left as it is)."""
        rect = state.get("rect") if isinstance(state, dict) else None
        if isinstance(rect, list) and len(rect) == 4 and all(isinstance(v, (int, float)) for v in rect) \
                and rect[2] > 0 and rect[3] > 0:
            self.viewbox.setRange(QRectF(*rect), padding=0)
        hidden = state.get("hidden") if isinstance(state, dict) else None
        if isinstance(hidden, list) and all(isinstance(v, int) for v in hidden):
            self.set_hidden_classes(hidden)

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
        """Ring the selected points; a large selection darkens its points instead."""
        selection = np.asarray(indices, np.int64).reshape(-1)
        large = len(selection) > MARKS_MAX
        self._mark("selection", [] if large else selection)
        tint = None
        if large:
            grid, side = self.grid, TINT_CELLS * self.grid.cell
            w, h = -(-grid.width // TINT_CELLS), -(-grid.height // TINT_CELLS)
            rect = (*grid.origin, grid.origin[0] + w * side, grid.origin[1] + h * side)
            tint = grid.render_dots(selection, rect, w, h, 0, (36, 41, 47))
        self.selection_tint.set_density(tint)

    def set_current(self, index: int, neighbours=()) -> None:
        """Mark the inspected item and its neighbours; in image mode their images always show."""
        self.current = np.concatenate([[index], np.asarray(neighbours, np.int64)]).astype(np.int64)
        self._mark("current", [index])
        self._mark("neighbours", neighbours)
        self._detail_timer.start()

    # --- level of detail ------------------------------------------------------------------
    def _view_rect(self) -> tuple[float, float, float, float]:
        r = self.viewbox.viewRect()
        return r.left(), r.top(), r.right(), r.bottom()

    def in_view(self) -> np.ndarray:
        """Indices of the visible points inside the view rectangle, in increasing order."""
        return self.grid.indices_in(self._view_rect())

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
        """Draw what the view holds now: density, dots, images (see the module docstring)."""
        rect = self._view_rect()
        count = self.grid.count_in(rect)
        idx = None
        if count <= DOTS_MAX:
            idx = self.grid.indices_in(rect)
            self._draw_dots(rect, len(idx))
        else:
            self._draw_density(rect)
        self.clusters.arrange(self.show_clusters)
        wanted = self.show_images and self.thumbnails.images is not None
        if not wanted or count > OCCUPANCY * self.images_fit(min(LEGIBLE_PX, self.thumbnail_px)):
            self.thumbnails.show([])
            return
        idx = idx if idx is not None else self.grid.indices_in(rect)
        size, chosen = self.detail(idx)
        if size is None:
            self.thumbnails.show([])
            return
        self.thumbnails.set_size(size)
        self.thumbnails.show(np.union1d(chosen, np.intersect1d(self.current, idx)),
                             front=int(self.current[0]) if len(self.current) else -1)

    def _pixel(self) -> float:
        return float(max(self.viewbox.viewPixelSize()))

    def _draw_dots(self, rect, count: int) -> None:
        """The points as dots, from an image a margin larger than the view (redrawn when it no longer fits)."""
        self._sharp_timer.stop()
        self.density.hide()
        self.dots.show()
        if self.dots.covers(self.viewbox.viewRect(), self._pixel(), 1.3):
            return
        pixel = self._pixel()
        x0, y0, x1, y1 = rect
        mx, my = DOTS_MARGIN * (x1 - x0), DOTS_MARGIN * (y1 - y0)
        wide = (x0 - mx, y0 - my, x1 + mx, y1 + my)
        idx = self.grid.indices_in(wide, ordered=False)
        if len(idx) > 1.5 * DOTS_MAX:
            wide, idx = rect, self.grid.indices_in(rect, ordered=False)
        radius = next(r for most, r in DOT_RADII if count <= most or most == DOTS_MAX)
        width = max(1, int(round((wide[2] - wide[0]) / pixel)))
        height = max(1, int(round((wide[3] - wide[1]) / pixel)))
        self.dots_indices = idx
        self.dots.set_density(self.grid.render_dots(self.dots_indices, wide, width, height, radius))

    def _draw_density(self, rect) -> None:
        """The pyramid's image of about a pixel a cell; the view's own once it rests, if that is finer."""
        self.dots.hide()
        self.dots_indices = np.zeros(0, np.int64)
        self.density.show()
        pixel = self._pixel()
        if self._sharp and self.density.covers(self.viewbox.viewRect(), pixel, 1.25):
            return  # the rested view's own image still fits
        self._sharp = False
        level = self.grid.level_for(pixel)
        self.density.set_density(level)
        if level.cell > 1.5 * pixel:
            self._sharp_timer.start()
        else:
            self._sharp_timer.stop()

    def _draw_sharp(self) -> None:
        """The density of the points in the (rested) view, a pixel a cell."""
        rect = self._view_rect()
        if self.grid.count_in(rect) > SHARP_MAX or self.dots.isVisible():
            return
        pixel = self._pixel()
        width = max(1, int(round((rect[2] - rect[0]) / pixel)))
        height = max(1, int(round((rect[3] - rect[1]) / pixel)))
        self.density.set_density(self.grid.render(self.grid.indices_in(rect, ordered=False), rect, width, height))
        self._sharp = True

    def _build_a_level(self) -> None:
        """Build one more density image of the pyramid (then come back for the next)."""
        k = self.grid.missing_level()
        if k is not None:
            self.grid.level(k)
            self._pyramid_timer.start()

    # --- mouse ----------------------------------------------------------------------------
    def index_at(self, scene_pos: QPointF) -> int | None:
        """The point (or shown image) under a scene position, within a few pixels."""
        if not len(self.grid) or not self.viewbox.sceneBoundingRect().contains(scene_pos):
            return None
        view_pos = self.viewbox.mapSceneToView(scene_pos)
        pw, ph = self.viewbox.viewPixelSize()
        on_image = self.thumbnails.index_at(view_pos, (pw, ph))
        if on_image is not None:
            return on_image
        return self.grid.nearest(view_pos.x(), view_pos.y(), PICK_RADIUS_PX * pw, PICK_RADIUS_PX * ph)

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
        lo, hi = polygon.min(axis=0), polygon.max(axis=0)
        candidates = self.grid.indices_in((lo[0], lo[1], hi[0], hi[1]), ordered=False)
        inside = np.sort(candidates[points_in_polygon(self.coords[candidates], polygon)])
        add = bool(modifiers & Qt.KeyboardModifier.ShiftModifier)
        self.selection_drawn.emit(inside.astype(np.int64), add)
