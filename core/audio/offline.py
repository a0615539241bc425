"""Denoise a whole recording: in chunks (bounded memory, a progress callback, cancellable), with the
stream's delay taken out, so the result lines up with the input sample for sample."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from models.audio_dae import AudioModel

from ..errors import Cancelled
from .io import resample
from .stream import StreamDenoiser, from_model_layout, to_model_layout

CHUNK_S = 1.0
CONTEXT = 1024  # samples of context on each side of a chunk for a non-causal model (the seed's field: ~60)


def _chunks(total: int, size: int, progress: Callable[[float], None] | None, cancel: Callable[[], bool] | None):
    for start in range(0, total, size):
        if cancel and cancel():
            raise Cancelled("denoising cancelled")
        yield start
        if progress:
            progress(min(1.0, (start + size) / total))


def denoise_wave(model: AudioModel, wave: np.ndarray, progress: Callable[[float], None] | None = None,
                 cancel: Callable[[], bool] | None = None) -> np.ndarray:
    """(C, T) float32 at the model's rate -> the denoised (C, T), aligned with the input."""
    wave = np.ascontiguousarray(wave, dtype=np.float32)
    channels, total = wave.shape
    model.eval()
    if model.capabilities.streams:  # the exact streaming computation, its delay flushed with silence and cut off
        size = max(model.stride, int(CHUNK_S * model.sample_rate) // model.stride * model.stride)
        stream = StreamDenoiser(model, channels, block=size, max_block=size)
        padded = np.pad(wave, ((0, 0), (0, stream.delay + -(total + stream.delay) % size)))
        out = np.empty_like(padded)
        for start in _chunks(padded.shape[1], size, progress, cancel):
            out[:, start:start + size] = stream.process(padded[:, start:start + size])
        return out[:, stream.delay:stream.delay + total]
    size = 1 << 14  # chunk, context and starts stay multiples of the model's total stride
    out = np.empty_like(wave)
    with torch.inference_mode():
        for start in _chunks(total, size, progress, cancel):
            lo, hi = max(0, start - CONTEXT), min(total, start + size + CONTEXT)
            y = model(to_model_layout(torch.from_numpy(wave[:, lo:hi]), model.channels))
            out[:, start:start + size] = from_model_layout(y, channels)[:, start - lo:start - lo + size].numpy()
    return out


def denoise_recording(model: AudioModel, wave: np.ndarray, rate: int,
                      progress: Callable[[float], None] | None = None,
                      cancel: Callable[[], bool] | None = None) -> np.ndarray:
    """``wave`` (C, T) at ``rate`` Hz -> its denoised copy, same rate, channels and length."""
    out = denoise_wave(model, resample(wave, rate, model.sample_rate), progress, cancel)
    out = resample(out, model.sample_rate, rate)[:, :wave.shape[1]]
    return np.pad(out, ((0, 0), (0, wave.shape[1] - out.shape[1])))

