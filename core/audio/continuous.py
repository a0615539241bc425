"""Continuous speech and changing noise: what a live denoiser hears for minutes on end.

``speech_track`` joins utterances with natural pauses (a recording as long as the track is used as it
is, cropped); ``changing_noise`` may fade from one noise into another and drifts in level;
``band_limited`` sometimes cuts the top of the band, as a sound card's resampler or a codec does
(so that the denoiser does not learn to read the noise level off the top band alone).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .noise import crop, unit_rms

PAUSE_S = (0.05, 0.4)  # between utterances
LONG_PAUSE_S = (0.5, 2.0)  # now and then the talker stops for a while
LONG_PAUSE_P = 0.1
UTTERANCE_DB = 3.0  # each utterance's level varies by up to this much
SWITCH_P = 0.3  # chance that the noise changes into another within a track
DRIFT_DB = 6.0  # the noise level drifts by up to this much over a track
LOW_PASS_P = 0.5  # chance that a track is band-limited
LOW_PASS_CUT = (0.55, 0.97)  # its cut-off, as a fraction of the Nyquist frequency
LOW_PASS_WIDTH = 0.05  # transition band, as a fraction of the Nyquist frequency


def speech_track(clips: list[np.ndarray], n: int, rate: int, rng: np.random.Generator, in_order: bool = False,
                 long_pause_p: float = LONG_PAUSE_P, level_db: float = UTTERANCE_DB) -> np.ndarray:
    """``n`` samples of speech: ``clips`` one after another with pauses, as a talker speaks.

    Clips are drawn at random; half the tracks start in the middle of an utterance (as a live stream
    does), half with a pause. ``in_order``: the clips in their order, starting with a pause.
    """
    picks = _picks(clips, rng, in_order)
    clip = next(picks)
    if len(clip) >= n and not in_order:
        return crop(clip, n, rng)
    out = np.zeros(n, dtype=np.float32)
    lead = int(rng.uniform(0, min(0.5, n / rate / 4)) * rate)
    pos = lead if in_order or rng.random() < 0.5 else -int(rng.integers(len(clip)))
    while pos < n:
        gain = 10 ** (rng.uniform(-level_db, level_db) / 20)
        lo, hi = max(pos, 0), min(pos + len(clip), n)
        if hi > lo:
            out[lo:hi] = clip[lo - pos:hi - pos] * gain
        long = rng.random() < long_pause_p
        pos += len(clip) + int(rng.uniform(*(LONG_PAUSE_S if long else PAUSE_S)) * rate)
        clip = next(picks)
    return out


def _picks(clips: list[np.ndarray], rng: np.random.Generator, in_order: bool):
    i = 0
    while True:
        yield clips[i % len(clips)] if in_order else clips[int(rng.integers(len(clips)))]
        i += 1


def changing_noise(source: Callable[[str], np.ndarray], kinds: list[str], n: int, rate: int,
                   rng: np.random.Generator, switch_p: float = SWITCH_P, drift_db: float = DRIFT_DB) -> np.ndarray:
    """``n`` samples of noise at unit RMS from ``source(kind)`` (``n`` samples of that kind): one kind, or
    a fade from one into another at a random time, with a slow level drift over the whole track."""
    noise = source(kinds[int(rng.integers(len(kinds)))])
    if len(kinds) > 1 and rng.random() < switch_p:
        fade = np.arange(n, dtype=np.float32) - rng.integers(n)
        fade = np.clip(fade / np.float32(rng.uniform(0.05, 1.0) * rate), 0.0, 1.0)
        second = source(kinds[int(rng.integers(len(kinds)))])
        noise = noise * np.sqrt(1 - fade) + second * np.sqrt(fade)  # constant power across the fade
    drift_np = rng.uniform(-drift_db, drift_db) * np.log(10) / 20  # in nepers
    return unit_rms(noise * np.exp(np.linspace(0.0, drift_np, n, dtype=np.float32)))


def band_limited(waves: np.ndarray, rate: int, rng: np.random.Generator, p: float = LOW_PASS_P) -> np.ndarray:
    """With probability ``p``, ``waves`` (..., n) low-passed at a random cut-off (one filter for all of
    them: a mixture's speech and noise go through the same device); else ``waves`` unchanged."""
    if rng.random() >= p:
        return waves
    n, nyquist = waves.shape[-1], rate / 2
    cut = rng.uniform(*LOW_PASS_CUT) * nyquist
    ramp = np.clip((np.fft.rfftfreq(n, 1 / rate) - cut) / (LOW_PASS_WIDTH * nyquist), 0.0, 1.0)
    gain = 0.5 + 0.5 * np.cos(np.pi * ramp)  # 1 below the cut-off, a raised-cosine fall to 0 above
    return np.fft.irfft(np.fft.rfft(waves, axis=-1) * gain, n, axis=-1).astype(np.float32)
