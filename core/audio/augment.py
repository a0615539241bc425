"""What a microphone and a room do to a voice, simulated for training.

``microphone`` colours speech and noise alike with a random smooth EQ curve and sometimes a high-pass (a
cheap headset, a laptop's microphone); ``reverberate`` plays speech in a room: a simulated impulse response
(a direct path, then exponentially decaying noise, the usual statistical model of a room's tail). The
training target keeps the direct path and the first ``EARLY_S`` of reflections (what a listener hears as
the voice itself); the denoiser learns to take off the late tail with the noise.
"""
from __future__ import annotations

import numpy as np

EQ_P = 0.5  # chance that a mixture goes through a coloured microphone
EQ_DB = 4.0  # standard deviation of the EQ curve at each anchor frequency
EQ_ANCHORS = 8  # log-spaced between 60 Hz and the Nyquist frequency
HIGH_PASS_P = 0.3
HIGH_PASS_HZ = (50.0, 300.0)
REVERB_P = 0.3  # chance that speech is played in a room
RT60_S = (0.15, 0.9)
DRR_DB = (0.0, 15.0)  # direct-to-reverberant energy ratio
EARLY_S = 0.05


def _filtered(waves: np.ndarray, gain: np.ndarray) -> np.ndarray:
    n = waves.shape[-1]
    return np.fft.irfft(np.fft.rfft(waves, axis=-1) * gain, n, axis=-1).astype(np.float32)


def microphone(waves: np.ndarray, rate: int, rng: np.random.Generator, p: float = EQ_P) -> np.ndarray:
    """With probability ``p``, ``waves`` (..., n) through one random microphone response (the same for all of
    them: a mixture's speech and noise reach the same microphone); else ``waves`` unchanged."""
    if rng.random() >= p:
        return waves
    n = waves.shape[-1]
    f = np.fft.rfftfreq(n, 1 / rate)
    anchors = np.geomspace(60.0, rate / 2, EQ_ANCHORS)
    curve_db = np.interp(np.log(np.maximum(f, 1.0)), np.log(anchors), rng.normal(0.0, EQ_DB, EQ_ANCHORS))
    gain = 10 ** (curve_db / 20)
    if rng.random() < HIGH_PASS_P:
        cut = rng.uniform(*HIGH_PASS_HZ)
        gain = gain * (f / cut) ** 4 / (1 + (f / cut) ** 4)  # a 24 dB/octave slope below the cut
    return _filtered(waves, gain)


def room_impulse(rate: int, rng: np.random.Generator) -> np.ndarray:
    """A random room's impulse response: 1 at 0 (the direct path), then a noise tail that starts a few ms
    later and decays by 60 dB over a random RT60, scaled to a random direct-to-reverberant ratio."""
    rt60 = rng.uniform(*RT60_S)
    n = int(rt60 * rate)
    t = np.arange(n) / rate
    tail = rng.standard_normal(n) * np.exp(-3 * np.log(10) * t / rt60)
    tail[:int(rng.uniform(0.001, 0.005) * rate)] = 0.0
    tail *= 10 ** (-rng.uniform(*DRR_DB) / 20) / np.sqrt(np.sum(tail ** 2))
    tail[0] = 1.0
    return tail.astype(np.float32)


def reverberate(speech: np.ndarray, rate: int, rng: np.random.Generator,
                p: float = REVERB_P) -> tuple[np.ndarray, np.ndarray]:
    """(what the microphone hears, the target), each like ``speech`` (n,): with probability ``p`` the speech
    in a random room and the same speech with only the direct path and early reflections; else the speech
    twice."""
    if rng.random() >= p:
        return speech, speech
    from scipy.signal import fftconvolve
    rir = room_impulse(rate, rng)
    n = len(speech)
    early = rir[:int(EARLY_S * rate)]
    return (fftconvolve(speech, rir)[:n].astype(np.float32), fftconvolve(speech, early)[:n].astype(np.float32))
