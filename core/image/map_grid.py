"""A map's points on a fine grid: a spatial index (which points lie in a rectangle, how many, which is
nearest to a spot) and class-coloured density images of the whole map at several resolutions, so that
a view of a million points is drawn from an image, never point by point.

The points are sorted by their cell of a grid ``TOP`` cells across the map's longer side, row by row: the
points of one row of cells between two columns are one slice of that order, so a rectangle's points are
a few hundred slices (``count_in`` and ``indices_in`` cost a binary search per row of cells). The density
pyramid halves the grid until it is ``SMALLEST`` cells across; each cell's colour is the mean of its points'
class colours, its opacity grows with the logarithm of their number.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TOP = 4096  # cells across the longer side of the finest grid
SMALLEST = 256  # cells across the longer side of the coarsest density image
FAINTEST = 70  # the opacity (of 255) of a cell with one point in the densest image


@dataclass
class Density:
    """An image of (part of) the map, whose row 0 is at the bottom (y grows with rows): premultiplied
    BGRA bytes, the layout of Qt's ``QImage.Format_ARGB32_Premultiplied`` on little-endian machines."""
    bgra: np.ndarray  # uint8 (H, W, 4)
    origin: tuple[float, float]  # the map position of the corner of cell (0, 0)
    cell: float  # a cell's side in map units


def colourise(counts: np.ndarray, colour_sums: np.ndarray, reference: float) -> np.ndarray:
    """Premultiplied BGRA (uint8, ..., 4) of cells holding ``counts`` points whose RGB class colours (0-255)
    sum to ``colour_sums`` (..., 3): their mean colour, opaque from ``reference`` points up, faint for one."""
    counts = np.asarray(counts, np.float32)
    out = np.zeros(counts.shape + (4,), np.uint8)
    full = counts > 0
    c = counts[full]
    alpha = FAINTEST + (255 - FAINTEST) * np.clip(np.log1p(c) / np.log1p(max(reference, 1.0)), 0, 1)
    mean = colour_sums[full] / c[:, None]
    out[full, 2::-1] = np.clip(mean * (alpha / 255)[:, None] + 0.5, 0, 255).astype(np.uint8)
    out[full, 3] = alpha.astype(np.uint8)
    return out


def packed_colours(rgb: np.ndarray) -> np.ndarray:
    """Opaque RGB colours (..., 3) as the uint32 pixels of a premultiplied BGRA image."""
    rgb = np.asarray(rgb, np.uint32)
    return (0xFF000000 | rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]).astype(np.uint32)


def disc(radius: int) -> list[tuple[int, int]]:
    """The pixel offsets of a dot ``radius`` px around its centre, the rim first (so that centres show)."""
    r = range(-radius, radius + 1)
    offsets = [(dx, dy) for dy in r for dx in r if dx * dx + dy * dy <= radius * radius + radius]
    return sorted(offsets, key=lambda o: -(o[0] ** 2 + o[1] ** 2))


class MapGrid:
    """The index and density pyramid of ``coords`` (N, 2) whose points have ``colours`` (N, 3) uint8, for
    the points of ``members`` (default: all; hidden classes are left out this way)."""

    def __init__(self, coords: np.ndarray, colours: np.ndarray, members: np.ndarray | None = None):
        self.coords = np.asarray(coords)
        members = np.arange(len(self.coords)) if members is None else np.asarray(members, np.int64)
        xy = self.coords[members]
        lo = xy.min(axis=0) if len(xy) else np.zeros(2)
        hi = xy.max(axis=0) if len(xy) else np.ones(2)
        span = float(max(hi[0] - lo[0], hi[1] - lo[1])) or 1.0
        self.cell = span * (1 + 1e-6) / TOP
        self.origin = (float(lo[0]), float(lo[1]))
        self.width = int((hi[0] - lo[0]) / self.cell) + 1
        self.height = int((hi[1] - lo[1]) / self.cell) + 1
        cells = self._cell_of(xy)
        sort = np.argsort(cells, kind="stable")
        self.order = members[sort]  # point indices, by cell
        self.cells = cells[sort]
        self._colours = colours
        self.levels: list[Density] = []

    def __len__(self) -> int:
        return len(self.order)

    def _cell_of(self, xy: np.ndarray) -> np.ndarray:
        ix = np.clip(((xy[:, 0] - self.origin[0]) / self.cell).astype(np.int64), 0, self.width - 1)
        iy = np.clip(((xy[:, 1] - self.origin[1]) / self.cell).astype(np.int64), 0, self.height - 1)
        return iy * self.width + ix

    # --- the index --------------------------------------------------------------------------------
    def _slices(self, rect: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
        """Start and end (in ``order``) of the points of each row of cells that ``rect`` (x0, y0, x1, y1) meets."""
        x0, y0, x1, y1 = rect
        c0 = int(np.clip(np.floor((x0 - self.origin[0]) / self.cell), 0, self.width - 1))
        c1 = int(np.clip(np.floor((x1 - self.origin[0]) / self.cell), 0, self.width - 1))
        r0 = int(np.clip(np.floor((y0 - self.origin[1]) / self.cell), 0, self.height - 1))
        r1 = int(np.clip(np.floor((y1 - self.origin[1]) / self.cell), 0, self.height - 1))
        outside = (x1 < self.origin[0] or y1 < self.origin[1] or x0 > self.origin[0] + self.width * self.cell
                   or y0 > self.origin[1] + self.height * self.cell or x1 < x0 or y1 < y0)
        if outside or not len(self.order):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        rows = np.arange(r0, r1 + 1, dtype=np.int64) * self.width
        return (np.searchsorted(self.cells, rows + c0, "left"), np.searchsorted(self.cells, rows + c1, "right"))

    def count_in(self, rect: tuple[float, float, float, float]) -> int:
        """How many points lie in the cells ``rect`` (x0, y0, x1, y1) meets (a little over the exact count)."""
        starts, ends = self._slices(rect)
        return int((ends - starts).sum())

    def indices_in(self, rect: tuple[float, float, float, float]) -> np.ndarray:
        """The points inside ``rect`` (x0, y0, x1, y1), in increasing order."""
        starts, ends = self._slices(rect)
        lengths = ends - starts
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(0, np.int64)
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        idx = self.order[offsets + np.arange(total)]
        x, y = self.coords[idx, 0], self.coords[idx, 1]
        x0, y0, x1, y1 = rect
        return np.sort(idx[(x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)])

    def nearest(self, x: float, y: float, rx: float, ry: float) -> int | None:
        """The point nearest to (x, y) within the ellipse of radii ``rx``, ``ry`` (distances in those units)."""
        idx = self.indices_in((x - rx, y - ry, x + rx, y + ry))
        if not len(idx):
            return None
        d = ((self.coords[idx, 0] - x) / rx) ** 2 + ((self.coords[idx, 1] - y) / ry) ** 2
        best = int(np.argmin(d))
        return int(idx[best]) if d[best] <= 1 else None

    def radius_holding(self, x: float, y: float, count: int) -> float:
        """About the half-width of the square around (x, y) that holds ``count`` points."""
        r = self.cell
        while r < self.cell * 2 * TOP and self.count_in((x - r, y - r, x + r, y + r)) < count:
            r *= 1.5
        return r

    # --- the density pyramid ----------------------------------------------------------------------
    def build_pyramid(self) -> list[Density]:
        """The density images, finest first (each half as many cells across as the one before)."""
        self.levels = []
        if not len(self.order):
            return self.levels
        first = np.flatnonzero(np.r_[True, self.cells[1:] != self.cells[:-1]])
        cells, counts = self.cells[first], np.diff(np.r_[first, len(self.cells)])
        sums = np.add.reduceat(self._colours[self.order].astype(np.float32), first, axis=0)
        width, height, shift = self.width, self.height, 0
        while True:
            if shift:
                coarse = (cells // self.width >> shift) * width + (cells % self.width >> shift)
                groups, inverse = np.unique(coarse, return_inverse=True)
                level_counts = np.bincount(inverse, counts).astype(np.float32)
                level_sums = np.stack([np.bincount(inverse, sums[:, k]) for k in range(3)], axis=1)
            else:
                groups, level_counts, level_sums = cells, counts.astype(np.float32), sums
            bgra = np.zeros((height, width, 4), np.uint8)
            bgra.reshape(-1, 4)[groups] = colourise(level_counts, level_sums, np.percentile(level_counts, 99))
            self.levels.append(Density(bgra, self.origin, self.cell * (1 << shift)))
            if max(width, height) <= SMALLEST:
                return self.levels
            shift += 1
            width, height = -(-self.width // (1 << shift)), -(-self.height // (1 << shift))

    def level_for(self, pixel: float) -> Density:
        """The coarsest density image whose cells are at most ``pixel`` map units wide (else the finest)."""
        fitting = [level for level in self.levels if level.cell <= pixel]
        return fitting[-1] if fitting else self.levels[0]

    def _pixels(self, indices: np.ndarray, rect, width: int, height: int) -> tuple[np.ndarray, np.ndarray, float]:
        """Column and row of each point of ``indices`` in an image of ``rect`` at ``width`` x ``height``
        square pixels (outside it for points outside), and a pixel's side in map units."""
        x0, y0, x1, y1 = rect
        cell = max((x1 - x0) / width, (y1 - y0) / height)
        xy = self.coords[indices]
        return (np.floor((xy[:, 0] - x0) / cell).astype(np.int64), np.floor((xy[:, 1] - y0) / cell).astype(np.int64),
                cell)

    def render(self, indices: np.ndarray, rect: tuple[float, float, float, float], width: int,
               height: int) -> Density:
        """The density image of the points ``indices`` over ``rect`` at ``width`` x ``height`` pixels."""
        ix, iy, cell = self._pixels(indices, rect, width, height)
        inside = (ix >= 0) & (ix < width) & (iy >= 0) & (iy < height)
        flat = iy[inside] * width + ix[inside]
        counts = np.bincount(flat, minlength=width * height).astype(np.float32)
        colours = self._colours[indices[inside]].astype(np.float32)
        sums = np.stack([np.bincount(flat, colours[:, k], minlength=width * height) for k in range(3)], axis=1)
        full = counts[counts > 0]
        bgra = colourise(counts, sums, float(np.percentile(full, 99)) if len(full) else 1.0)
        return Density(bgra.reshape(height, width, 4), rect[:2], cell)

    def render_dots(self, indices: np.ndarray, rect: tuple[float, float, float, float], width: int, height: int,
                    radius: int, colour: tuple[int, int, int] | None = None) -> Density:
        """The points ``indices`` as opaque dots ``radius`` px around, in their colours (or ``colour``),
        later ones over earlier ones, over ``rect`` at ``width`` x ``height`` pixels."""
        ix, iy, cell = self._pixels(indices, rect, width, height)
        pixels = np.zeros(height * width, np.uint32)
        packed = packed_colours(self._colours[indices] if colour is None else np.array(colour))
        packed = np.broadcast_to(packed, ix.shape)
        for dx, dy in disc(radius):
            x, y = ix + dx, iy + dy
            ok = (x >= 0) & (x < width) & (y >= 0) & (y < height)
            pixels[(y * width + x)[ok]] = packed[ok]
        return Density(pixels.view(np.uint8).reshape(height, width, 4), rect[:2], cell)
