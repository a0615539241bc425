"""Built-in noise generators and mixing at a chosen signal-to-noise ratio.

Every generator returns float32 (n,) at unit RMS; ``mix_at_snr`` scales the noise (torchaudio's
``add_noise``) so that speech energy / noise energy is exactly the asked-for SNR.
"""
from __future__ import annotations

import numpy as np
import torch

BUILTIN_NOISES = ("white", "pink", "brown", "hum", "babble")
COLOUR_EXPONENTS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power spectrum ~ 1 / f**exponent
LOWEST = 1e-3  # cycles per sample (16 Hz at 16 kHz): the spectrum is flat below


def unit_rms(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(x), dtype=np.float64)))
    return (x / rms if rms > 1e-12 else x).astype(np.float32)


def coloured_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise whose power falls as 1/f**exponent (0 white, 1 pink, 2 brown), shaped in the FFT domain."""
    spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.maximum(np.fft.rfftfreq(n), LOWEST)  # no sub-audio drift (brown noise would be mostly that)
    return unit_rms(np.fft.irfft(spectrum * f ** (-exponent / 2), n))


def mains_hum(n: int, rate: int, rng: np.random.Generator, harmonics: int = 12) -> np.ndarray:
    """50 or 60 Hz mains hum (slightly detuned) with random harmonic amplitudes and phases, made in the
    FFT domain (each harmonic on its nearest bin, so the hum repeats seamlessly every ``n`` samples)."""
    f0 = rng.choice([50.0, 60.0]) * (1 + rng.uniform(-0.005, 0.005))
    k = np.arange(1, harmonics + 1)
    k = k[k * f0 < rate / 2]
    amps = rng.uniform(0.2, 1.0, len(k)) / k ** rng.uniform(0.3, 1.2)
    phases = rng.uniform(0, 2 * np.pi, len(k))
    spectrum = np.zeros(n // 2 + 1, dtype=np.complex128)
    spectrum[np.round(k * f0 * n / rate).astype(int)] = amps * np.exp(1j * phases)
    return unit_rms(np.fft.irfft(spectrum, n))


def babble(n: int, clips: list[np.ndarray], rng: np.random.Generator, talkers: tuple[int, int] = (3, 7)) -> np.ndarray:
    """Several speech clips (other talkers) overlaid at random offsets, each looped to fill ``n`` samples."""
    out = np.zeros(n, dtype=np.float32)
    for i in rng.choice(len(clips), size=min(len(clips), int(rng.integers(*talkers))), replace=False):
        out += np.roll(crop(clips[i], n, rng), int(rng.integers(n))) * rng.uniform(0.5, 1.0) / (
            np.sqrt(np.mean(np.square(clips[i]))) + 1e-8)
    return unit_rms(out)


def crop(wave: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``n``-sample stretch of ``wave`` (looped if it is shorter)."""
    if len(wave) < n:
        wave = np.tile(wave, -(-n // len(wave)))
    start = int(rng.integers(len(wave) - n + 1))
    return wave[start:start + n]


def builtin_noise(kind: str, n: int, rate: int, rng: np.random.Generator, clips: list[np.ndarray]) -> np.ndarray:
    """One of ``BUILTIN_NOISES``; ``clips`` are the speech clips babble is made from."""
    if kind in COLOUR_EXPONENTS:
        return coloured_noise(n, COLOUR_EXPONENTS[kind], rng)
    if kind == "hum":
        return mains_hum(n, rate, rng)
    if kind == "babble":
        return babble(n, clips, rng)
    raise ValueError(f"unknown noise {kind!r}; choose from {', '.join(BUILTIN_NOISES)}")


def mix_at_snr(clean: torch.Tensor, noise: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
    """clean + noise scaled to ``snr_db`` (one value per wave: shape ``clean.shape[:-1]``)."""
    import torchaudio.functional as AF  # imported here: image commands need no torchaudio
    return AF.add_noise(clean, noise, snr_db)
