"""Audio views: level meters and a two-signal view (waveform + spectrogram of input and output).

They only draw what they are given; the live panel feeds them from the engine's monitors on a timer.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QProgressBar, QWidget, QHBoxLayout

from core.audio.spectrum import FLOOR_DB, spectrogram_db

METER_FLOOR_DB = -60.0
WAVE_POINTS = 800  # min/max pairs drawn per waveform
N_FFT = 256
SPECTRUM_LEVELS = (-100.0, -20.0)  # dB range of the colour map
EMPTY_S, EMPTY_RATE = 4.0, 16_000  # the axes before the first signals


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
    """Two signals side by side (e.g. noisy input / denoised output): waveform on top, spectrogram below. Until
    the first signals, the axes span ``EMPTY_S`` seconds and the frequencies of ``EMPTY_RATE`` (not pyqtgraph's
    ±0.5 in ms and mHz) and the spectrograms say what to do (``placeholder``)."""

    def __init__(self, titles: tuple[str, str] = ("Input", "Output"), placeholder: str = "no signal yet", parent=None):
        super().__init__(parent)
        self.waves, self.images, self.spec_plots, self.placeholders = [], [], [], []
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
            note = pg.TextItem(placeholder, color="#6e7781", anchor=(0.5, 0.5))
            spec_plot.addItem(note)
            self.images.append(image)
            self.spec_plots.append(spec_plot)
            self.placeholders.append(note)
        self.ci.layout.setRowStretchFactor(0, 2)
        self.ci.layout.setRowStretchFactor(1, 3)
        self._set_ranges(EMPTY_S, EMPTY_RATE)
        for note in self.placeholders:
            note.setPos(EMPTY_S / 2, EMPTY_RATE / 4)

    def _set_ranges(self, seconds: float, rate: int) -> None:
        for wave, spec_plot in zip(self.waves, self.spec_plots):
            spec_plot.setXRange(0, seconds, padding=0)
            spec_plot.setYRange(0, rate / 2, padding=0)
            wave.getViewBox().setXRange(0, seconds, padding=0)

    def show_signals(self, left: np.ndarray, right: np.ndarray, rate: int) -> None:
        """Draw two mono waves (any length) at ``rate`` Hz."""
        for i, wave in enumerate((left, right)):
            wave = np.asarray(wave, dtype=np.float32)
            x, y = envelope(wave)
            self.waves[i].setData(x / rate, y)
            db = spectrogram_db(wave, N_FFT) if len(wave) else np.full((1, N_FFT // 2 + 1), FLOOR_DB)
            self.images[i].setImage(db.T, autoLevels=False)  # rows: frequency bins, columns: frames
            self.images[i].setRect(0, 0, max(len(wave), N_FFT) / rate, rate / 2)
            self.placeholders[i].hide()
        self._set_ranges(max(len(left), len(right), 1) / rate, rate)

    def spectrogram(self, index: int) -> np.ndarray:
        """The dB image shown under signal ``index`` (bins, frames)."""
        return self.images[index].image
