"""Scoring a denoiser as a user hears it, and the non-learned baselines it has to beat.

Test recordings are long stretches of continuous speech (``speech_track``) of talkers the model was
not trained on, in held-out noise at a chosen SNR. ``score`` reports the SI-SDR improvement over the
whole recording and over its first and last thirds (a denoiser that decays over time shows it), and
the changes in wideband PESQ (``pesq``, ITU-T P.862.2) and STOI (``pystoi``), and ``band_kept``: the share of
the clean speech's 4-8 kHz energy that the output still holds. The baselines: fixed band-passes (an FFT
brick wall; STFT band masks, ``BAND_MASKS``, the best of them chosen with the clean speech in hand), and
``noisereduce``'s spectral gating. ``ideal_gain`` is the yardstick from above: what a gain per bin could do
if it knew the clean speech. ``run_live`` pushes a recording through the live engine faster than real time
(soak tests).
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

from .continuous import speech_track
from .io import resample
from .metrics import si_sdr
from .noise import mix_at_snr

PESQ_RATE = 16000  # wideband PESQ runs at 16 kHz
SPEECH_BAND_HZ = (100.0, 4000.0)
BAND_MASKS = ((100.0, 3600.0), (100.0, 4000.0), (200.0, 7000.0))  # Hz: fixed filters a denoiser must beat
HIGH_BAND_HZ = (4000.0, 8000.0)  # where s, f, sh and t live
MASK_FRAME = 512
IDEAL_FRAME_S = 0.02  # the shipped model's frame


def long_recording(clips: list[np.ndarray], noise: np.ndarray, snr_db: float, rate: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean), mono float32 (1, len(noise)): ``clips`` spoken one after another with natural
    pauses, in ``noise`` at ``snr_db`` over the whole recording."""
    clean = speech_track(clips, len(noise), rate, rng)[None]
    noisy = mix_at_snr(torch.from_numpy(clean), torch.from_numpy(np.asarray(noise, np.float32)[None]),
                       torch.tensor([float(snr_db)]))
    return noisy.numpy(), clean


def band_pass(wave: np.ndarray, rate: int, band: tuple[float, float] = SPEECH_BAND_HZ) -> np.ndarray:
    """A fixed brick-wall FFT band-pass over the whole recording (no learning, no adaptation)."""
    spectrum = np.fft.rfft(wave, axis=-1)
    f = np.fft.rfftfreq(wave.shape[-1], 1 / rate)
    spectrum[..., (f < band[0]) | (f > band[1])] = 0
    return np.fft.irfft(spectrum, wave.shape[-1], axis=-1).astype(np.float32)


def band_mask(wave: np.ndarray, rate: int, band: tuple[float, float]) -> np.ndarray:
    """A fixed STFT mask (``MASK_FRAME``-sample Hann frames, half overlap) that keeps the bins in ``band``."""
    from scipy.signal import istft, stft
    f, _, spec = stft(wave, rate, nperseg=MASK_FRAME, axis=-1)
    spec[..., (f < band[0]) | (f > band[1]), :] = 0
    return istft(spec, rate, nperseg=MASK_FRAME)[1][..., :wave.shape[-1]].astype(np.float32)


def best_band_mask(wave: np.ndarray, clean: np.ndarray, rate: int) -> np.ndarray:
    """The output of whichever of ``BAND_MASKS`` gets the highest SI-SDR against ``clean`` (an oracle's
    choice: the strongest fixed filter there is for this recording)."""
    outputs = [band_mask(wave, rate, band) for band in BAND_MASKS]
    return max(outputs, key=lambda y: float(si_sdr(y, clean).mean()))


def ideal_gain(noisy: np.ndarray, clean: np.ndarray, rate: int, frame_s: float = IDEAL_FRAME_S) -> np.ndarray:
    """An oracle, not a denoiser: each STFT bin of ``noisy`` (Hann frames of ``frame_s``, half overlap) times
    the best real gain in [0, 1] there is with the clean speech in hand (the phase-sensitive mask,
    Re(S / X) clipped): the ceiling of any model that predicts one gain per bin at that resolution."""
    from scipy.signal import istft, stft
    n = round(frame_s * rate)
    x, s = (stft(w, rate, nperseg=n, axis=-1)[2] for w in (noisy, clean))
    gain = np.clip(np.real(s * np.conj(x)) / (np.abs(x) ** 2 + 1e-12), 0.0, 1.0)
    return istft(gain * x, rate, nperseg=n)[1][..., :noisy.shape[-1]].astype(np.float32)


def band_kept(denoised: np.ndarray, clean: np.ndarray, rate: int, band: tuple[float, float] = HIGH_BAND_HZ) -> float:
    """The share of ``clean``'s energy in ``band`` that ``denoised`` keeps, by projection (noise left in the
    band does not count): the squared gain of the output's projection on the clean speech in the band,
    relative to that below the band, so a denoiser's overall level does not count either; at most 1."""
    def along_clean(lo: float, hi: float) -> float:
        f = np.fft.rfftfreq(clean.shape[-1], 1 / rate)
        keep = (f >= lo) & (f < hi)
        s, y = np.fft.rfft(clean, axis=-1)[..., keep], np.fft.rfft(denoised, axis=-1)[..., keep]
        return float(np.real(np.sum(y * np.conj(s))) / (np.sum(np.abs(s) ** 2) + 1e-12))
    below = along_clean(0.0, band[0])
    return min(max(along_clean(*band), 0.0) ** 2 / below ** 2, 1.0) if below > 0 else 0.0


def spectral_gating(wave: np.ndarray, rate: int) -> np.ndarray:
    """``noisereduce``'s non-stationary spectral gating with its defaults, channel by channel."""
    import noisereduce
    return np.stack([noisereduce.reduce_noise(y=w, sr=rate) for w in wave]).astype(np.float32)


def thirds_gain(denoised: np.ndarray, noisy: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    """SI-SDR improvement (dB) over the first and the last third of a recording."""
    n = clean.shape[-1]
    first, last = slice(0, n // 3), slice(n - n // 3, n)
    gain = lambda s: float(si_sdr(denoised[..., s], clean[..., s]).mean() - si_sdr(noisy[..., s], clean[..., s]).mean())  # noqa: E731
    return gain(first), gain(last)


def perceptual(wave: np.ndarray, clean: np.ndarray, rate: int) -> tuple[float, float]:
    """(wideband PESQ, STOI) of mono (1, T) ``wave`` against ``clean``; PESQ at 16 kHz."""
    from pesq import pesq
    from pystoi import stoi
    ref, deg = (resample(x, rate, PESQ_RATE)[0] for x in (clean, wave))
    return float(pesq(PESQ_RATE, ref, deg, "wb")), float(stoi(clean[0], wave[0], rate))


def score(denoised: np.ndarray, noisy: np.ndarray, clean: np.ndarray, rate: int, with_perceptual: bool = True,
          noisy_perceptual: tuple[float, float] | None = None) -> dict[str, float]:
    """How much ``denoised`` improves on ``noisy`` (each (1, T), aligned with ``clean``): ``sisdr_gain``
    over the whole recording, ``first_gain`` / ``last_gain`` over its thirds and, with
    ``with_perceptual``, ``pesq_delta`` and ``stoi_delta`` (``noisy_perceptual``: the noisy input's
    (PESQ, STOI) if already known)."""
    out = {"sisdr_gain": float(si_sdr(denoised, clean).mean() - si_sdr(noisy, clean).mean())}
    out["first_gain"], out["last_gain"] = thirds_gain(denoised, noisy, clean)
    if with_perceptual:
        pesq_in, stoi_in = noisy_perceptual or perceptual(noisy, clean, rate)
        pesq_out, stoi_out = perceptual(denoised, clean, rate)
        out.update(pesq_delta=pesq_out - pesq_in, stoi_delta=stoi_out - stoi_in)
    return out


def run_live(engine, wave: np.ndarray, every: int = 0,
             on_progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Push (C, T) ``wave`` at ``engine.rate`` through ``engine.process`` block by block, as a sound card's
    callback does but without waiting between blocks: (output (C, T), seconds each block took).
    ``on_progress(samples done)`` is called every ``every`` samples."""
    block, frames = engine.block, wave.shape[1] // engine.block * engine.block
    x = np.ascontiguousarray(wave[:, :frames].T)
    out = np.zeros_like(x)  # (touched now: the resident set does not grow as it fills)
    out.fill(0.0)
    busy = np.zeros(frames // block)
    for i, start in enumerate(range(0, frames, block)):
        t0 = time.perf_counter()
        engine.process(x[start:start + block], out[start:start + block])
        busy[i] = time.perf_counter() - t0
        if every and on_progress and (start + block) % every < block:
            on_progress(start + block)
    return out.T, busy
