"""Live training curves: one small plot per metric, train and validation as separate lines, x = epoch.

Metric keys are whatever numeric keys the rows carry (a VAE sends recon/kl, a GAN d_loss/g_loss...).
Appending a row only writes into numpy buffers. A timer does one small step per tick (every
``TICK_MS``): make one new plot, or redraw one plot's curves that have new points (round robin; the validation
curve, with its markers, only when it has a new point). So each plot refreshes at most
~1000 / (TICK_MS * plots) times a second and no event-loop pass builds or repaints them all at once:
a fast trainer cannot make the UI thread stall. For the same
reason the plots have no grid (a grid makes every curve update repaint its axes) and only the curves
are antialiased. The plots share one x range (their x axes are linked to the first plot's), wide enough that the
last point and its marker show whole.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer

from core.runs.listing import metric_values

TITLES = {"loss": "loss (total)", "r2": "R² (reconstruction)", "recon": "reconstruction", "kl": "KL divergence",
          "d_loss": "discriminator loss", "g_loss": "generator loss", "d_real": "D(real)", "d_fake": "D(fake)",
          "sisdr": "SI-SDR of the output (dB)", "sisdr_improvement": "SI-SDR improvement (dB)",
          "sisdr_input": "SI-SDR of the noisy input (dB)",
          "sisdr_decay": "SI-SDR decay: last third − first third (dB)"}
TICK_MS = 40
WAITING = "The curves appear with the first logged steps…"
SPLITS = ("train", "val")
STYLES = {
    "train": dict(pen=pg.mkPen("#1f77b4", width=1.5), name="train", antialias=True),
    "val": dict(pen=pg.mkPen("#e8710a", width=2), symbol="o", symbolSize=6, symbolBrush="#e8710a",
                symbolPen=pg.mkPen("w", width=0.5), name="validation", antialias=True),
}


class Series:
    """An (x, y) series that grows by doubling a numpy buffer (appending is amortised O(1)) and keeps
    its bounds."""

    def __init__(self, capacity: int = 256):
        self._xy = np.empty((2, capacity))
        self.n = 0
        self.x_max, self.y_min, self.y_max = -math.inf, math.inf, -math.inf

    def append(self, x: float, y: float) -> None:
        if self.n == self._xy.shape[1]:
            self._xy = np.concatenate([self._xy, np.empty_like(self._xy)], axis=1)
        self._xy[:, self.n] = x, y
        self.n += 1
        self.x_max, self.y_min, self.y_max = max(self.x_max, x), min(self.y_min, y), max(self.y_max, y)

    @property
    def x(self) -> np.ndarray:
        return self._xy[0, :self.n]

    @property
    def y(self) -> np.ndarray:
        return self._xy[1, :self.n]


def title_of(key: str) -> str:
    """A metric's plot title: its name in ``TITLES``, else its key in words (never a raw key like 'sisdr_x')."""
    return TITLES.get(key) or key.replace("_", " ").replace("sisdr", "SI-SDR")


def legend_title(title: str) -> str:
    """``title`` with the line styles named after it, in their colours: a legend that covers no curve."""
    train, val = (STYLES[split]["pen"].color().name() for split in SPLITS)
    return (f"{title} &nbsp;<span style='color:{train}'>━ train</span> "
            f"<span style='color:{val}'>● validation</span>")


def plot_order(key: str) -> tuple[int, str]:
    return (0 if key == "loss" else 2 if key == "r2" else 1), key


def needs_refit(lo: float, hi: float, view_lo: float, view_hi: float) -> bool:
    """Whether data spanning [lo, hi] leaves the view or fills less than half of it."""
    return lo < view_lo or hi > view_hi or (hi - lo) < 0.5 * (view_hi - view_lo)


class MetricPlots(pg.GraphicsLayoutWidget):
    def __init__(self, columns: int = 2, parent=None):
        super().__init__(parent)
        self.columns = columns
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[tuple[str, str], pg.PlotDataItem] = {}
        self.series: dict[tuple[str, str], Series] = {}
        self._new: set[str] = set()  # metrics seen, their plot not made yet
        self._dirty: set[tuple[str, str]] = set()  # (metric, split) curves with undrawn points
        self._last = ""  # the plot drawn last
        self._manual: set[str] = set()  # plots the user zoomed or panned: their view is left alone
        self.x_limit = math.inf  # the run's last epoch, when known: the x range never goes past it
        self._x_hi = 0.0  # the right end of the plots' shared x range (0: not set yet)
        self._timer = QTimer(self, interval=TICK_MS)
        self._timer.timeout.connect(self._tick)
        self.waiting = self.ci.addLabel(WAITING, color="#57606a")  # until the first plot (None after)

    def keys(self) -> list[str]:
        """The metrics shown (or about to be), in display order."""
        return sorted({*self.plots, *self._new}, key=plot_order)

    def reset(self, x_limit: float = math.inf) -> None:
        """Forget every metric (a new run starts, ``x_limit`` epochs long if known)."""
        self.x_limit, self._x_hi = x_limit, 0.0
        self.clear()
        for store in (self.plots, self.curves, self.series, self._new, self._dirty, self._manual):
            store.clear()
        self.waiting = self.ci.addLabel(WAITING, color="#57606a")

    def add_row(self, row: dict) -> None:
        split = "val" if row.get("split") == "val" else "train"
        epoch = float(row.get("epoch", 0.0))
        for key, value in metric_values(row).items():
            if key not in self.plots:
                self._new.add(key)
            for s in SPLITS:
                self.series.setdefault((key, s), Series())
            self.series[key, split].append(epoch, value)
            self._dirty.add((key, split))
        if not self._timer.isActive():
            self._timer.start()

    def data(self, key: str, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """What the curve of ``key``/``split`` currently draws."""
        curve = self.curves.get((key, split))
        x, y = (None, None) if curve is None else curve.getData()
        return (np.empty(0), np.empty(0)) if x is None else (x, y)

    def redraw(self) -> None:
        """Make every pending plot and draw every pending point now."""
        while self._new or self._dirty:
            self._tick()

    def _tick(self) -> None:
        """One small step: make one new plot, or redraw one plot's curves."""
        if self._new:
            key = min(self._new, key=plot_order)
            self._new.discard(key)
            self._add_plot(key)
        elif self._dirty:
            keys = [k for k in self.keys() if k in self.plots]
            after = keys.index(self._last) + 1 if self._last in keys else 0
            key = next(k for k in keys[after:] + keys[:after] if any((k, s) in self._dirty for s in SPLITS))
            self._last = key
            for split in SPLITS:
                if (key, split) in self._dirty:
                    self._dirty.discard((key, split))
                    s = self.series[key, split]
                    self.curves[key, split].setData(s.x, s.y, skipFiniteCheck=True)
            self._fit_x()
            if key not in self._manual:
                self._fit_view(key)
        else:
            self._timer.stop()

    def _fit_x(self) -> None:
        """The plots' shared x range: from 0 past the last epoch of any curve (a little past it, so that its marker
        shows whole), changed only when the data leaves it or fills less than half of it; never past the run's
        end. Left alone once the user zoomed or panned a plot."""
        x_max = max((s.x_max for s in self.series.values()), default=-math.inf)
        if not math.isfinite(x_max) or self._manual or not self.plots:
            return
        if self._x_hi and not needs_refit(0.0, x_max, 0.0, self._x_hi):
            return
        self._x_hi = min(max(x_max * 1.25, 1.0), max(self.x_limit, x_max))
        master = self.plots[min(self.plots, key=plot_order)].getViewBox()
        master.setXRange(0.0, self._x_hi, padding=0.03)

    def _fit_view(self, key: str) -> None:
        """Keep the data in view, changing the y range only when the data leaves it or shrinks inside it: an
        unchanged range spares regenerating the axes, the dearest part of a repaint."""
        series = [self.series[key, s] for s in SPLITS]
        y_lo, y_hi = min(s.y_min for s in series), max(s.y_max for s in series)
        if not math.isfinite(y_lo):
            return
        view = self.plots[key].getViewBox()
        vy_lo, vy_hi = view.viewRange()[1]
        if needs_refit(y_lo, y_hi, vy_lo, vy_hi):
            pad = 0.08 * ((y_hi - y_lo) or abs(y_hi) or 1.0)
            view.setYRange(y_lo - pad, y_hi + pad, padding=0)

    def _add_plot(self, key: str) -> None:
        title = title_of(key)  # the loss plot names the line styles in its title, where they cover no curve
        plot = pg.PlotItem(title=legend_title(title) if key == "loss" else title, enableMenu=False)  # menus cost ~25%
        plot.setLabel("bottom", "epoch")
        plot.getAxis("left").setWidth(48)
        plot.disableAutoRange()
        plot.getViewBox().sigRangeChangedManually.connect(lambda *_a, k=key: self._manual.add(k))
        for split in SPLITS:
            curve = plot.plot(**STYLES[split])
            curve.setClipToView(True)
            curve.setDownsampling(auto=True, method="peak")
            self.curves[key, split] = curve
        first = min(self.plots, key=plot_order) if self.plots else None
        self.plots[key] = plot
        if first is not None:  # one x range for all: each plot follows the first made (or, made first, leads)
            if plot_order(key) < plot_order(first):
                self._x_hi = 0.0  # (set again, on the new first plot)
                for other in self.plots.values():
                    if other is not plot:
                        other.setXLink(plot)
            else:
                plot.setXLink(self.plots[first])
        if self.waiting is not None:
            self.ci.removeItem(self.waiting)
            self.waiting = None
        order = sorted(self.plots, key=plot_order)
        if order[-1] == key:  # the usual case: plots arrive in display order
            i = len(order) - 1
            self.ci.addItem(plot, row=i // self.columns, col=i % self.columns)
        else:
            self.ci.clear()
            for i, k in enumerate(order):
                self.ci.addItem(self.plots[k], row=i // self.columns, col=i % self.columns)


#: one colour per run (matplotlib's tab10)
RUN_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
               "#17becf")


class OverlayPlots(pg.GraphicsLayoutWidget):
    """Several runs' curves in one plot per metric, one colour per run, the legend (in the loss plot) by run name.
    ``show_runs([(name, {metric: (epochs, values)}), …])`` draws them at once (they are read from files, not live)."""

    def __init__(self, columns: int = 2, parent=None):
        super().__init__(parent)
        self.columns = columns
        self.plots: dict[str, pg.PlotItem] = {}

    def show_runs(self, runs: list[tuple[str, dict[str, tuple[list[float], list[float]]]]]) -> None:
        self.ci.clear()
        self.plots.clear()
        keys = sorted({k for _, curves in runs for k in curves}, key=plot_order)
        for i, key in enumerate(keys):
            plot = pg.PlotItem(title=title_of(key), enableMenu=False)
            plot.setLabel("bottom", "epoch")
            plot.getAxis("left").setWidth(48)
            if i == 0:
                plot.addLegend(offset=(-8, 8), labelTextSize="8pt")
            for n, (name, curves) in enumerate(runs):
                if key in curves:
                    colour = RUN_COLOURS[n % len(RUN_COLOURS)]
                    x, y = curves[key]
                    plot.plot(x, y, pen=pg.mkPen(colour, width=2), symbol="o" if len(x) < 60 else None, symbolSize=5,
                              symbolBrush=colour, symbolPen=None, name=name if i == 0 else None, antialias=True)
            self.ci.addItem(plot, row=i // self.columns, col=i % self.columns)
            self.plots[key] = plot

    def curve_count(self, key: str) -> int:
        """How many runs' curves the plot of ``key`` draws."""
        return len(self.plots[key].listDataItems()) if key in self.plots else 0
