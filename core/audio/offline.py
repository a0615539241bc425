"""Denoise a whole recording block by block: memory independent of its length (a file is read and written
as it goes), a progress callback, cancellable, and the stream's delay taken out, so the result lines up with
the input sample for sample.

The chain is resample to the model's rate, denoise, resample back; each stage is a stream whose output
equals what it would make of the whole signal at once (the resampler is scipy's ``resample_poly``, applied
in chunks with enough context on each side to give the same numbers).
"""
from __future__ import annotations

from math import ceil, gcd
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from scipy.signal import resample_poly

from models.audio_dae import AudioModel

from ..errors import Cancelled
from .io import AudioReader, AudioWriter
from .stream import StreamDenoiser, from_model_layout, to_model_layout

BLOCK_S = 1.0  # seconds of input taken at a time
CONTEXT = 1024  # samples of context on each side of a chunk for a non-causal model (the seed's field: ~60)
SEED_CHUNK = 1 << 14  # a non-causal model's chunk: chunk, context and starts stay multiples of its total stride


class Overlapped:
    """Applies ``fn`` to a signal that arrives in blocks, in chunks of ``chunk`` input samples with ``context``
    samples on each side, giving ``fn(whole signal)``: for an ``fn`` that makes ``up / down`` output samples
    per input sample, each depending only on the input within ``context`` of it (``chunk`` and ``context``
    multiples of ``down``)."""

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], channels: int, chunk: int, context: int,
                 up: int = 1, down: int = 1):
        self.fn, self.chunk, self.context, self.up, self.down = fn, chunk, context, up, down
        self._buffer = np.zeros((channels, 0), dtype=np.float32)
        self._start = 0  # where the buffer starts in the signal
        self._done = 0  # input samples whose output has been given
        self._seen = 0  # input samples pushed

    def push(self, x: np.ndarray) -> np.ndarray:
        self._buffer = np.concatenate([self._buffer, x], axis=1)
        self._seen += x.shape[1]
        out = []
        while self._seen - self._done >= self.chunk + self.context:
            out.append(self._emit(self._done + self.chunk))
        return self._joined(out)

    def finish(self) -> np.ndarray:
        out = []
        while self._done < self._seen:
            out.append(self._emit(min(self._done + self.chunk, self._seen)))
        return self._joined(out)

    def _emit(self, end: int) -> np.ndarray:
        start = self._done
        lo, hi = max(0, start - self.context), min(self._seen, end + self.context)
        y = self.fn(self._buffer[:, lo - self._start:hi - self._start])
        offset = lo * self.up // self.down
        out = y[:, start * self.up // self.down - offset:ceil(end * self.up / self.down) - offset]
        self._done = end
        keep = max(0, end - self.context)  # what the next chunk's context needs
        self._buffer, self._start = self._buffer[:, keep - self._start:], keep
        return out

    def _joined(self, parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts, axis=1) if parts else self._buffer[:, :0]


class Streamed:
    """A streaming model's exact block-by-block output with its delay taken out (``finish`` flushes it)."""

    MAX_BLOCK = 1 << 16

    def __init__(self, model: AudioModel, channels: int):
        self.stream = StreamDenoiser(model, channels, max_block=self.MAX_BLOCK)
        self._skip = self.stream.delay  # output samples still to drop

    def push(self, x: np.ndarray) -> np.ndarray:
        out = np.concatenate([self.stream.process(x[:, i:i + self.MAX_BLOCK]).copy()
                              for i in range(0, x.shape[1], self.MAX_BLOCK)] or [x[:, :0]], axis=1)
        drop = min(self._skip, out.shape[1])
        self._skip -= drop
        return out[:, drop:]

    def finish(self) -> np.ndarray:
        return self.push(np.zeros((self.stream.channels, self.stream.delay), dtype=np.float32))


def resampler(from_rate: int, to_rate: int, channels: int) -> Overlapped:
    """``resample_poly`` from ``from_rate`` to ``to_rate`` as a stream (about BLOCK_S seconds a chunk)."""
    g = gcd(int(from_rate), int(to_rate))
    up, down = int(to_rate) // g, int(from_rate) // g
    reach = 10 * max(up, down) // up + 2  # half the length of resample_poly's filter, in input samples
    context = ceil(reach / down) * down
    chunk = max(1, round(from_rate * BLOCK_S / down)) * down
    return Overlapped(lambda w: resample_poly(w, up, down, axis=-1).astype(np.float32), channels, chunk, context,
                      up, down)


def denoiser(model: AudioModel, channels: int) -> Overlapped | Streamed:
    """The model as a stream: a streaming one block by block, another in chunks with context."""
    if model.capabilities.streams:
        return Streamed(model, channels)

    @torch.inference_mode()
    def run(window: np.ndarray) -> np.ndarray:
        y = model(to_model_layout(torch.from_numpy(np.ascontiguousarray(window)), model.channels))
        return from_model_layout(y, channels).numpy()

    return Overlapped(run, channels, SEED_CHUNK, CONTEXT)


def denoise_blocks(model: AudioModel, blocks: Iterable[np.ndarray], rate: int, channels: int, frames: int,
                   progress: Callable[[float], None] | None = None,
                   cancel: Callable[[], bool] | None = None) -> Iterator[np.ndarray]:
    """(channels, n) blocks at ``rate`` Hz in (``frames`` of them in all, for progress) -> their denoised
    copy in blocks: same rate, channels and length."""
    model.eval()
    stages = [denoiser(model, channels)]
    if rate != model.sample_rate:
        stages = [resampler(rate, model.sample_rate, channels), *stages, resampler(model.sample_rate, rate, channels)]
    seen = given = 0
    for block in blocks:
        if cancel and cancel():
            raise Cancelled("denoising cancelled")
        seen += block.shape[1]
        for stage in stages:
            block = stage.push(block)
        given += block.shape[1]
        yield block
        if progress:
            progress(min(1.0, seen / max(1, frames)))
    tail = None
    for stage in stages:
        tail = stage.finish() if tail is None else np.concatenate([stage.push(tail), stage.finish()], axis=1)
    missing = max(0, seen - given)  # resampling there and back may give a sample more or less
    tail = tail[:, :missing]
    yield np.pad(tail, ((0, 0), (0, missing - tail.shape[1])))


def _in_blocks(wave: np.ndarray, size: int) -> Iterator[np.ndarray]:
    wave = np.ascontiguousarray(wave, dtype=np.float32)
    for start in range(0, wave.shape[1], size):
        yield wave[:, start:start + size]


def denoise_wave(model: AudioModel, wave: np.ndarray, progress: Callable[[float], None] | None = None,
                 cancel: Callable[[], bool] | None = None) -> np.ndarray:
    """(C, T) float32 at the model's rate -> the denoised (C, T), aligned with the input."""
    return denoise_recording(model, wave, model.sample_rate, progress, cancel)


def denoise_recording(model: AudioModel, wave: np.ndarray, rate: int,
                      progress: Callable[[float], None] | None = None,
                      cancel: Callable[[], bool] | None = None) -> np.ndarray:
    """``wave`` (C, T) at ``rate`` Hz -> its denoised copy, same rate, channels and length."""
    blocks = _in_blocks(wave, max(1, round(rate * BLOCK_S)))
    return np.concatenate(list(denoise_blocks(model, blocks, rate, wave.shape[0], wave.shape[1], progress, cancel)),
                          axis=1)


def denoise_file(model: AudioModel, source: Path, target: Path, progress: Callable[[float], None] | None = None,
                 cancel: Callable[[], bool] | None = None) -> tuple[int, int, int]:
    """Denoise sound file ``source`` into ``target`` (WAV/FLAC by its suffix, written only once complete),
    reading and writing a block at a time; returns (frames, rate, channels)."""
    with AudioReader(source) as reader, AudioWriter(target, reader.rate, reader.channels) as writer:
        frames = 0
        blocks = reader.blocks(max(1, round(reader.rate * BLOCK_S)))
        for block in denoise_blocks(model, blocks, reader.rate, reader.channels, reader.frames, progress, cancel):
            writer.write(block)
            frames += block.shape[1]
        return frames, reader.rate, reader.channels
