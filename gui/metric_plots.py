"""Live training curves: one small plot per metric, train and validation as separate lines, x = epoch.

Metric keys are whatever numeric keys the rows carry (a VAE sends recon/kl, a GAN d_loss/g_loss...).
Appending a row only writes into numpy buffers; the curves are redrawn by a timer, at most
``REDRAW_HZ`` times a second, so a fast trainer cannot flood the UI thread.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer

BOOKKEEPING = {"type", "step", "epoch", "progress", "eta_s", "samples_per_s", "time", "split"}
TITLES = {"loss": "loss (total)", "r2": "R² (reconstruction)"}
REDRAW_HZ = 10
SPLITS = ("train", "val")
STYLES = {
    "train": dict(pen=pg.mkPen("#1f77b4", width=1.5), name="train"),
    "val": dict(pen=pg.mkPen("#e8710a", width=2), symbol="o", symbolSize=6, symbolBrush="#e8710a",
                symbolPen=pg.mkPen("w", width=0.5), name="validation"),
}


class Series:
    """An (x, y) series that grows by doubling a numpy buffer: appending is amortised O(1)."""

    def __init__(self, capacity: int = 256):
        self._xy = np.empty((2, capacity))
        self.n = 0

    def append(self, x: float, y: float) -> None:
        if self.n == self._xy.shape[1]:
            self._xy = np.concatenate([self._xy, np.empty_like(self._xy)], axis=1)
        self._xy[:, self.n] = x, y
        self.n += 1

    @property
    def x(self) -> np.ndarray:
        return self._xy[0, :self.n]

    @property
    def y(self) -> np.ndarray:
        return self._xy[1, :self.n]


def metric_values(row: dict) -> dict[str, float]:
    """The plottable entries of a metrics row: finite numbers under non-bookkeeping keys."""
    return {k: float(v) for k, v in row.items()
            if k not in BOOKKEEPING and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def plot_order(key: str) -> tuple[int, str]:
    return (0 if key == "loss" else 2 if key == "r2" else 1), key


class MetricPlots(pg.GraphicsLayoutWidget):
    def __init__(self, columns: int = 2, parent=None):
        super().__init__(parent)
        self.columns = columns
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[tuple[str, str], pg.PlotDataItem] = {}
        self.series: dict[tuple[str, str], Series] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._timer = QTimer(self, singleShot=True, interval=1000 // REDRAW_HZ)
        self._timer.timeout.connect(self.redraw)

    def keys(self) -> list[str]:
        return sorted(self.plots, key=plot_order)

    def reset(self) -> None:
        """Forget every metric (a new run starts)."""
        self.clear()
        self.plots.clear()
        self.curves.clear()
        self.series.clear()
        self._dirty.clear()

    def add_row(self, row: dict) -> None:
        split = "val" if row.get("split") == "val" else "train"
        epoch = float(row.get("epoch", 0.0))
        values = metric_values(row)
        new = [k for k in values if k not in self.plots]
        if new:
            for key in new:
                self._add_plot(key)
            self._layout()
        for key, value in values.items():
            self.series[key, split].append(epoch, value)
            self._dirty.add((key, split))
        if not self._timer.isActive():
            self._timer.start()

    def data(self, key: str, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """What the curve of ``key``/``split`` currently draws."""
        x, y = self.curves[key, split].getData()
        return (np.empty(0), np.empty(0)) if x is None else (x, y)

    def redraw(self) -> None:
        for key in self._dirty:
            s = self.series[key]
            self.curves[key].setData(s.x, s.y, skipFiniteCheck=True)
        self._dirty.clear()

    def _add_plot(self, key: str) -> None:
        plot = pg.PlotItem(title=TITLES.get(key, key.replace("_", " ")))
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.setLabel("bottom", "epoch")
        plot.getAxis("left").setWidth(48)
        plot.setMenuEnabled(False)
        if key == "loss":
            plot.addLegend(offset=(-8, 8), labelTextSize="8pt")
        for split in SPLITS:
            style = dict(STYLES[split])
            if key != "loss":
                style.pop("name")
            curve = plot.plot(**style)
            curve.setClipToView(True)
            curve.setDownsampling(auto=True, method="peak")
            self.curves[key, split] = curve
            self.series[key, split] = Series()
        self.plots[key] = plot

    def _layout(self) -> None:
        self.ci.clear()
        for i, key in enumerate(self.keys()):
            self.ci.addItem(self.plots[key], row=i // self.columns, col=i % self.columns)
