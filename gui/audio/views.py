"""Audio views: level meters and a two-signal view (waveform + spectrogram of input and output).

They only draw what they are given; the live panel feeds them from the engine's monitors on a timer.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QProgressBar, QWidget, QHBoxLayout

from core.audio.spectrum import spectrogram_db

METER_FLOOR_DB = -60.0
WAVE_POINTS = 800  # min/max pairs drawn per waveform
N_FFT = 256
SPECTRUM_LEVELS = (-100.0, -20.0)  # dB range of the colour map
EMPTY_SECONDS, EMPTY_RATE = 4.0, 16000  # the axes of a view with no audio yet
NO_AUDIO = "no audio yet"


def to_db(level: float) -> float:
    return 20 * np.log10(max(level, 1e-6))


class LevelMeter(QWidget):
    """A horizontal peak meter in dBFS (-60..0), with the value as text; red near full scale."""

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setRange(int(METER_FLOOR_DB * 10), 0)
        self.bar.setTextVisible(True)
        self.bar.setFixedHeight(16)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel(title))
        layout.addWidget(self.bar, 1)
        self.set_level(0.0)

    def set_level(self, peak: float) -> None:
        db = max(METER_FLOOR_DB, to_db(peak))
        self.db = db
        self.bar.setValue(int(db * 10))
        self.bar.setFormat(f"{db:5.1f} dBFS" if db > METER_FLOOR_DB else "silence")
        colour = "#cf222e" if db > -3 else "#bf8700" if db > -12 else "#1a7f37"
        self.bar.setStyleSheet(f"QProgressBar::chunk {{ background: {colour}; }}")


def envelope(wave: np.ndarray, points: int = WAVE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) tracing the min/max envelope of ``wave`` in ``points`` columns (x in samples)."""
    n = len(wave) // points * points
    if n == 0:
        return np.arange(len(wave), dtype=np.float64), wave.astype(np.float64)
    cols = wave[len(wave) - n:].reshape(points, -1)
    x = np.repeat(np.arange(points) * cols.shape[1] + len(wave) - n, 2).astype(np.float64)
    y = np.stack([cols.min(1), cols.max(1)], axis=1).ravel().astype(np.float64)
    return x, y


class SignalPair(pg.GraphicsLayoutWidget):
    """Two signals side by side (e.g. noisy input / denoised output): waveform on top, spectrogram below.
    A side with no audio says what to do (``hints``) on axes that make sense: ``EMPTY_SECONDS`` of time and
    frequencies up to half of ``EMPTY_RATE`` (or the other side's duration and rate)."""

    def __init__(self, titles: tuple[str, str] = ("Input", "Output"), hints: tuple[str, str] = (NO_AUDIO, NO_AUDIO),
                 parent=None):
        super().__init__(parent)
        self.waves, self.images, self.spec_plots, self.hints = [], [], [], []
        self.hint_texts = hints
        cmap = pg.colormap.get("inferno")
        for col, title in enumerate(titles):
            wave_plot = self.addPlot(row=0, col=col, title=title)
            wave_plot.setYRange(-1, 1)
            wave_plot.setMouseEnabled(x=False, y=False)
            wave_plot.hideButtons()
            wave_plot.getAxis("bottom").setStyle(showValues=False)
            self.waves.append(wave_plot.plot(pen=pg.mkPen("#0969da", width=1)))
            spec_plot = self.addPlot(row=1, col=col)
            spec_plot.setLabel("bottom", "time", units="s")
            spec_plot.setLabel("left", "frequency", units="Hz")
            spec_plot.setMouseEnabled(x=False, y=False)
            spec_plot.hideButtons()
            image = pg.ImageItem(axisOrder="row-major")
            image.setColorMap(cmap)
            image.setLevels(SPECTRUM_LEVELS)
            spec_plot.addItem(image)
            hint = pg.TextItem(anchor=(0.5, 0.5), color="#57606a")
            spec_plot.addItem(hint, ignoreBounds=True)
            self.images.append(image)
            self.spec_plots.append(spec_plot)
            self.hints.append(hint)
            self._show_empty(col, EMPTY_SECONDS, EMPTY_RATE)
        self.ci.layout.setRowStretchFactor(0, 2)
        self.ci.layout.setRowStretchFactor(1, 3)

    def show_signals(self, left: np.ndarray, right: np.ndarray, rate: int) -> None:
        """Draw two mono waves (any length) at ``rate`` Hz; an empty one shows its hint."""
        waves = [np.asarray(wave, dtype=np.float32) for wave in (left, right)]
        seconds = max(len(wave) for wave in waves) / rate or EMPTY_SECONDS
        for i, wave in enumerate(waves):
            if not len(wave):
                self._show_empty(i, seconds, rate)
                continue
            self.hints[i].hide()
            x, y = envelope(wave)
            self.waves[i].setData(x / rate, y)
            self.images[i].setImage(spectrogram_db(wave, N_FFT).T, autoLevels=False)  # rows: bins, columns: frames
            self.images[i].setRect(0, 0, max(len(wave), N_FFT) / rate, rate / 2)
            self._set_ranges(i, len(wave) / rate, rate)

    def _show_empty(self, index: int, seconds: float, rate: int) -> None:
        self.waves[index].setData([], [])
        self.images[index].clear()
        self.hints[index].setText(self.hint_texts[index])
        self.hints[index].setPos(seconds / 2, rate / 4)
        self.hints[index].show()
        self._set_ranges(index, seconds, rate)

    def _set_ranges(self, index: int, seconds: float, rate: int) -> None:
        self.spec_plots[index].setXRange(0, seconds, padding=0)
        self.spec_plots[index].setYRange(0, rate / 2, padding=0)
        self.waves[index].getViewBox().setXRange(0, seconds, padding=0)

    def spectrogram(self, index: int) -> np.ndarray | None:
        """The dB image shown under signal ``index`` (bins, frames); None while it has no audio."""
        return self.images[index].image

    def hint(self, index: int) -> str:
        """What the side says while it has no audio ('' while it shows some)."""
        return self.hints[index].toPlainText() if self.hints[index].isVisible() else ""
