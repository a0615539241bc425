"""The band above the model's rate, kept live: a sound card at 44.1 or 48 kHz carries the voice up to 20 kHz,
the model works at 16 kHz (up to 8 kHz, and the resampler's filter ends near 6.3 kHz).

The live engine resamples the input down, denoises, and resamples the result up. Beside the denoised signal
it resamples the model's *dry* input up too (the same resampler, so the same delay and the same band): the
band above the model's is then the device-rate input, delayed to match (``FractionalDelay``), less that dry
low band, an exact complement whatever the resampler's filter. That high band is added back with a gain
that follows what the model did in its top bands (``TopBandGain``: the level of its output over the level of
its input between 60 % and 95 % of its Nyquist frequency), so it is kept under speech and turned down with the
noise. Every filter here is causal and carries its state, so the result does not depend on the block sizes.
"""
from __future__ import annotations

import numpy as np
import samplerate
from scipy.signal import butter, lfilter, sosfilt

RESAMPLER = "sinc_fastest"  # libsamplerate: band-limited, ~1 ms of delay, steady output per block
TOP_BAND = (0.6, 0.95)  # the model's top bands, as fractions of its Nyquist frequency
GAIN_TIME_S = 0.02  # time constant of the band levels the gain is taken from (a model frame)
FRACTION_TAPS = 32  # length of the fractional-delay filter
EPS = 1e-10


def chain_delay(rate: int, model_rate: int, model_delay: int, margin: int) -> float:
    """Delay, in device samples (a fraction where it is not whole), of device rate -> model rate -> ``model_delay``
    model samples -> device rate -> ``margin`` samples of queue: a click sent through fresh resamplers, its
    delay read off the phase slope of the pass band (the resampler's filters have linear phase)."""
    n = 4 * rate // 100 + 2 * margin
    click = np.zeros((n, 1), dtype=np.float32)
    click[n // 4] = 1.0
    down, up = samplerate.Resampler(RESAMPLER, channels=1), samplerate.Resampler(RESAMPLER, channels=1)
    at_model = np.concatenate([np.zeros((model_delay, 1), np.float32), down.process(click, model_rate / rate),
                               np.zeros((model_rate // 50, 1), np.float32)])
    back = up.process(at_model, rate / model_rate)[:, 0]
    spectrum = np.fft.rfft(back, 4 * len(back))
    freqs = np.fft.rfftfreq(4 * len(back), 1 / rate)
    band = (freqs > 100) & (freqs < 0.6 * min(rate, model_rate) / 2)
    slope = np.polyfit(2 * np.pi * freqs[band] / rate, np.unwrap(np.angle(spectrum[band])), 1)[0]
    return -slope - n // 4 + margin


class FractionalDelay:
    """Delays (channels, n) blocks by ``delay`` samples (any real number ≥ ``FRACTION_TAPS`` / 2): a whole-sample
    queue and, for the fraction, a windowed-sinc filter; the state carries from block to block."""

    def __init__(self, delay: float, channels: int):
        whole = int(np.floor(delay))
        fraction = delay - whole
        half = FRACTION_TAPS // 2
        if fraction < 1e-3:
            self.taps = np.zeros(FRACTION_TAPS)
            self.taps[half] = 1.0
        else:
            t = np.arange(FRACTION_TAPS) - half - fraction
            self.taps = np.sinc(t) * np.kaiser(FRACTION_TAPS, 8.0)
            self.taps /= self.taps.sum()
        self.whole = whole - half  # the filter itself delays by half its length (plus the fraction)
        if self.whole < 0:
            raise ValueError(f"a delay of {delay:.2f} samples is shorter than the filter's {half}")
        self._state = np.zeros((channels, FRACTION_TAPS - 1))
        self._queue = np.zeros((channels, self.whole), dtype=np.float32)

    def process(self, x: np.ndarray) -> np.ndarray:
        filtered, self._state = lfilter(self.taps, [1.0], x, axis=-1, zi=self._state)
        joined = np.concatenate([self._queue, filtered.astype(np.float32)], axis=1)
        self._queue = joined[:, x.shape[1]:]
        return joined[:, :x.shape[1]]


class TopBandGain:
    """Per-sample gain of the model in its top bands: the level of ``wet`` over that of ``dry`` between
    ``TOP_BAND`` of the model's Nyquist frequency, both smoothed over ``GAIN_TIME_S``, in [0, 1]."""

    def __init__(self, model_rate: int, channels: int):
        self.sos = butter(4, TOP_BAND, btype="bandpass", output="sos")
        self.alpha = float(np.exp(-1.0 / (GAIN_TIME_S * model_rate)))
        self._band = np.zeros((self.sos.shape[0], 2 * channels, 2))  # band-pass state of wet and dry, stacked
        self._level = np.zeros((2 * channels, 1))  # smoother state

    def process(self, wet: np.ndarray, dry: np.ndarray) -> np.ndarray:
        """(channels, n) model-rate output and the input it came from (aligned) -> (channels, n) gains."""
        band, self._band = sosfilt(self.sos, np.concatenate([wet, dry]), axis=-1, zi=self._band)
        level, self._level = lfilter([1 - self.alpha], [1, -self.alpha], band * band, axis=-1, zi=self._level)
        c = len(wet)
        return np.minimum(np.sqrt(level[:c] / (level[c:] + EPS)), 1.0).astype(np.float32)


class HighBand:
    """The device-rate band above the model's, delayed by ``delay`` device samples to meet the resampled output."""

    def __init__(self, delay: float, channels: int):
        self.delay = FractionalDelay(delay, channels)

    def add(self, out: np.ndarray, x: np.ndarray, dry_low: np.ndarray, gain: np.ndarray) -> None:
        """``out`` += ``gain`` * (``x`` delayed - ``dry_low``), all (channels, n) at the device rate, in place."""
        high = self.delay.process(x)
        high -= dry_low
        high *= np.clip(gain, 0.0, 1.0)
        out += high
