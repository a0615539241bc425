"""Spectrograms for display: log power in dB, and as uint8 images for the training previews."""
from __future__ import annotations

import numpy as np

FLOOR_DB = -90.0


def spectrogram_db(wave: np.ndarray, n_fft: int = 256, hop: int | None = None) -> np.ndarray:
    """(frames, n_fft // 2 + 1) power in dB (re full scale) of a mono wave, Hann-windowed frames."""
    hop = hop or n_fft // 2
    wave = np.asarray(wave, dtype=np.float32)
    if len(wave) < n_fft:
        wave = np.pad(wave, (0, n_fft - len(wave)))
    frames = np.lib.stride_tricks.sliding_window_view(wave, n_fft)[::hop]
    window = np.hanning(n_fft).astype(np.float32)
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2 / (window.sum() ** 2 / 4)
    return np.maximum(10 * np.log10(power + 1e-12), FLOOR_DB).astype(np.float32)


def spectrogram_image(wave: np.ndarray, width: int = 64, n_fft: int = 128, hop: int = 256,
                      top_db: float | None = None, range_db: float = 80.0) -> np.ndarray:
    """uint8 (bins, width) image, low frequencies at the bottom, ``top_db`` (default: the loudest bin)
    white and ``range_db`` below it black; padded or cut to ``width`` frames."""
    db = spectrogram_db(wave, n_fft, hop)[:width]
    top = db.max() if top_db is None else top_db
    img = np.clip((db - top + range_db) / range_db, 0, 1)
    out = np.zeros((n_fft // 2 + 1, width), dtype=np.uint8)
    out[:, :len(img)] = np.round(img.T[::-1] * 255).astype(np.uint8)
    return out
