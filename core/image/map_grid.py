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

import copy
from dataclasses import dataclass

import numpy as np

TOP = 4096  # cells across the longer side of the finest grid (for a large map; fewer for a small one)
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
    c = np.asarray(counts, np.float32)
    out = np.zeros(c.shape + (4,), np.uint8)
    full = c > 0
    c = c[full]
    fullness = np.minimum(np.log1p(c) / np.float32(np.log1p(max(reference, 1.0))), 1)
    alpha = np.round(FAINTEST + (255 - FAINTEST) * fullness)
    scale = alpha / (255 * c)  # premultiplied: no channel over the opacity
    out[full, 2::-1] = np.minimum(np.asarray(colour_sums, np.float32)[full] * scale[:, None] + 0.5, alpha[:, None])
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
        top = int(np.clip(2 ** np.ceil(np.log2(8 * np.sqrt(len(xy)) + 1)), SMALLEST, TOP))
        self.cell = span * (1 + 1e-6) / top
        self.origin = (float(lo[0]), float(lo[1]))
        self.width = int((hi[0] - lo[0]) / self.cell) + 1
        self.height = int((hi[1] - lo[1]) / self.cell) + 1
        cells = self._cell_of(xy)
        sort = np.argsort(cells)
        self.order = members[sort]  # point indices, by cell
        self.cells = cells[sort]
        self._colours = colours
        self._finest = None
        self.levels: list[Density | None] = [None] * self.level_count

    def restricted(self, keep: np.ndarray) -> "MapGrid":
        """The same grid over only the points where ``keep`` (N,) is true: no sorting again (hiding a class)."""
        grid = copy.copy(self)
        chosen = keep[self.order]
        grid.order, grid.cells = self.order[chosen], self.cells[chosen]
        grid._finest, grid.levels = None, [None] * self.level_count
        return grid

    def __len__(self) -> int:
        return len(self.order)

    def _cell_of(self, xy: np.ndarray) -> np.ndarray:
        ix = np.clip(((xy[:, 0] - self.origin[0]) / self.cell).astype(np.int32), 0, self.width - 1)
        iy = np.clip(((xy[:, 1] - self.origin[1]) / self.cell).astype(np.int32), 0, self.height - 1)
        return iy * np.int32(self.width) + ix

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
        rows = np.arange(r0, r1 + 1, dtype=np.int32) * np.int32(self.width)
        return (np.searchsorted(self.cells, rows + c0, "left"), np.searchsorted(self.cells, rows + c1, "right"))

    def count_in(self, rect: tuple[float, float, float, float]) -> int:
        """How many points lie in the cells ``rect`` (x0, y0, x1, y1) meets (a little over the exact count)."""
        starts, ends = self._slices(rect)
        return int((ends - starts).sum())

    def indices_in(self, rect: tuple[float, float, float, float], ordered: bool = True) -> np.ndarray:
        """The points inside ``rect`` (x0, y0, x1, y1), in increasing order (else in the grid's)."""
        starts, ends = self._slices(rect)
        lengths = ends - starts
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(0, np.int64)
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        idx = self.order[offsets + np.arange(total)]
        x, y = self.coords[idx, 0], self.coords[idx, 1]
        x0, y0, x1, y1 = rect
        idx = idx[(x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)]
        return np.sort(idx) if ordered else idx

    def nearest(self, x: float, y: float, rx: float, ry: float) -> int | None:
        """The point nearest to (x, y) within the ellipse of radii ``rx``, ``ry`` (distances in those units)."""
        idx = self.indices_in((x - rx, y - ry, x + rx, y + ry), ordered=False)
        if not len(idx):
            return None
        d = ((self.coords[idx, 0] - x) / rx) ** 2 + ((self.coords[idx, 1] - y) / ry) ** 2
        best = int(np.argmin(d))
        return int(idx[best]) if d[best] <= 1 else None

    def radius_holding(self, x: float, y: float, count: int) -> float:
        """About the half-width of the square around (x, y) that holds ``count`` points."""
        def holds(r: float) -> bool:  # (counted exactly only where the cells' count is small enough)
            rect = (x - r, y - r, x + r, y + r)
            about = self.count_in(rect)
            return about >= count and (about > 50_000 or len(self.indices_in(rect, ordered=False)) >= count)

        hi = self.cell
        if holds(hi):  # finer than a cell: halve until it no longer holds them
            while hi > self.cell * 1e-6 and holds(hi / 2):
                hi /= 2
        while hi < self.cell * 2 * TOP and not holds(hi):
            hi *= 2
        lo = hi / 2
        for _ in range(8):  # bisect between the last square too small and the first large enough
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if holds(mid) else (mid, hi)
        return hi

    # --- the density pyramid ----------------------------------------------------------------------
    @property
    def level_count(self) -> int:
        """How many density images the pyramid has (built or not)."""
        return max(1, int(np.ceil(np.log2(max(self.width, self.height) / SMALLEST))) + 1) if len(self) else 0

    def level(self, k: int) -> Density:
        """Density image ``k`` of the pyramid (0: the finest), built the first time it is asked for."""
        if self.levels[k] is None:
            self.levels[k] = self._build_level(k)
        return self.levels[k]

    def missing_level(self) -> int | None:
        """A density image not built yet, coarsest first (None when all are)."""
        return next((k for k in reversed(range(self.level_count)) if self.levels[k] is None), None)

    def _occupied(self):
        """The finest grid's occupied cells, their point counts and colour sums."""
        if self._finest is None:
            first = np.flatnonzero(np.r_[True, self.cells[1:] != self.cells[:-1]])
            sums = np.add.reduceat(self._colours[self.order].astype(np.float32), first, axis=0)
            self._finest = self.cells[first], np.diff(np.r_[first, len(self.cells)]).astype(np.float32), sums
        return self._finest

    def _build_level(self, shift: int) -> Density:
        cells, counts, sums = self._occupied()
        width, height = -(-self.width // (1 << shift)), -(-self.height // (1 << shift))
        if shift:  # sums over the occupied finest cells, by the coarser cell each falls in
            coarse = (cells // self.width >> shift) * width + (cells % self.width >> shift)
            level_counts = np.bincount(coarse, counts, minlength=width * height)
            groups = np.flatnonzero(level_counts)
            counts = level_counts[groups]
            sums = np.stack([np.bincount(coarse, sums[:, k], minlength=width * height)[groups] for k in range(3)],
                            axis=1)
        else:
            groups = cells
        bgra = np.zeros((height, width, 4), np.uint8)
        bgra.reshape(-1, 4)[groups] = colourise(counts, sums, np.percentile(counts, 99))
        return Density(bgra, self.origin, self.cell * (1 << shift))

    def level_for(self, pixel: float) -> Density:
        """The coarsest density image whose cells are at most ``pixel`` map units wide (else the finest)."""
        k = int(np.clip(np.floor(np.log2(max(pixel, 1e-300) / self.cell)), 0, self.level_count - 1))
        return self.level(k)

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
        counts = np.bincount(flat, minlength=width * height)
        full = np.flatnonzero(counts)
        colours = self._colours[indices[inside]].astype(np.float64)
        sums = np.stack([np.bincount(flat, colours[:, k], minlength=width * height)[full] for k in range(3)], axis=1)
        bgra = np.zeros((height * width, 4), np.uint8)
        if len(full):
            bgra[full] = colourise(counts[full], sums, float(np.percentile(counts[full], 99)))
        return Density(bgra.reshape(height, width, 4), rect[:2], cell)

    def render_dots(self, indices: np.ndarray, rect: tuple[float, float, float, float], width: int, height: int,
                    radius: int, colour: tuple[int, int, int] | None = None) -> Density:
        """The points ``indices`` as opaque dots ``radius`` px around, in their colours (or ``colour``),
        later ones over earlier ones, over ``rect`` at ``width`` x ``height`` pixels."""
        ix, iy, cell = self._pixels(indices, rect, width, height)
        r, padded = radius, width + 2 * radius  # drawn into a frame ``radius`` px wide: no bounds to check
        keep = (ix >= -r) & (ix < width + r) & (iy >= -r) & (iy < height + r)
        base = (iy[keep] + r) * padded + ix[keep] + r
        packed = packed_colours(self._colours[indices[keep]] if colour is None else np.array(colour))
        pixels = np.zeros((height + 2 * r) * padded, np.uint32)
        for dx, dy in disc(radius):
            pixels[base + (dy * padded + dx)] = packed
        image = pixels.reshape(height + 2 * r, padded)[r:r + height, r:r + width]
        return Density(np.ascontiguousarray(image).view(np.uint8).reshape(height, width, 4), rect[:2], cell)
