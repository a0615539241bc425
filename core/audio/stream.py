"""Block-by-block denoising at the model's sample rate, with carried state and preallocated buffers.

``StreamDenoiser.process`` takes any number of samples and returns as many: the denoised signal (mixed
with the dry input by ``wet``) delayed by ``delay`` samples. Its output equals the model's offline
output delayed by ``delay``, whatever the block sizes.
"""
from __future__ import annotations

from math import gcd

import numpy as np
import torch

from models.audio_dae import AudioModel


class Fifo:
    """First-in first-out sample queue of shape (channels, capacity), preallocated; no allocation after init."""

    def __init__(self, channels: int, capacity: int):
        self.buf = np.zeros((channels, capacity), dtype=np.float32)
        self.start = self.end = 0

    def __len__(self) -> int:
        return self.end - self.start

    def push(self, x: np.ndarray) -> None:
        n = x.shape[-1]
        if self.end + n > self.buf.shape[1]:  # slide the queued samples to the front
            count = len(self)
            if count + n > self.buf.shape[1]:
                raise OverflowError(f"FIFO of {self.buf.shape[1]} samples cannot take {n} more after {count}")
            self.buf[:, :count] = self.buf[:, self.start:self.end]
            self.start, self.end = 0, count
        self.buf[:, self.end:self.end + n] = x
        self.end += n

    def pop(self, n: int) -> np.ndarray:
        """A view of the oldest ``n`` samples (valid until the next push)."""
        if n > len(self):
            raise ValueError(f"FIFO holds {len(self)} samples, {n} asked for")
        out = self.buf[:, self.start:self.start + n]
        self.start += n
        return out


def to_model_layout(x: torch.Tensor, model_channels: int) -> torch.Tensor:
    """(C, n) signal -> (batch, model channels, n): a mono model takes each channel as a batch item,
    a stereo model takes a mono signal on both sides."""
    if model_channels == 1:
        return x[:, None]
    return x[None] if x.shape[0] == model_channels else x.expand(model_channels, -1)[None]


def from_model_layout(y: torch.Tensor, channels: int) -> torch.Tensor:
    """Inverse of ``to_model_layout``: (batch, model channels, n) -> (channels, n)."""
    if y.shape[1] == 1:
        return y[:, 0]
    return y[0] if y.shape[1] == channels else y[0].mean(0, keepdim=True)


class StreamDenoiser:
    """Runs a streaming ``AudioModel`` on a live signal of ``channels`` channels.

    A mono model denoises each channel on its own; a stereo model given mono hears it on both sides.
    ``block``: the block length if it never changes (the extra buffering is then as small as it can be).
    """

    def __init__(self, model: AudioModel, channels: int, block: int | None = None, max_block: int = 1 << 15):
        if not model.capabilities.streams:
            raise ValueError(f"{model.name} cannot stream; use a causal model")
        self.model, self.channels = model.eval(), channels
        self.hop = model.stride
        self.prime = self.hop - (gcd(block, self.hop) if block else 1)  # waits for a whole hop at worst
        self.delay = model.stream_delay + self.prime
        self.batch = channels if model.channels == 1 else 1
        self.state = model.init_state(self.batch)
        capacity = 2 * (max_block + self.hop + self.delay)
        self._in = Fifo(channels, capacity)
        self._wet, self._dry = Fifo(channels, capacity), Fifo(channels, capacity)
        self._out = np.zeros((channels, max_block), dtype=np.float32)
        self._wet.push(np.zeros((channels, self.prime), dtype=np.float32))
        self._dry.push(np.zeros((channels, self.delay), dtype=np.float32))
        self.dry = self._out[:, :0]

    @property
    def latency_samples(self) -> int:
        """Algorithmic latency through this denoiser: the model's own plus the hop buffering."""
        return self.model.latency_samples + self.prime

    @torch.inference_mode()
    def _denoise(self, x: np.ndarray) -> np.ndarray:
        y, self.state = self.model.stream_step(to_model_layout(torch.from_numpy(x), self.model.channels), self.state)
        return from_model_layout(y, self.channels).numpy()

    def process(self, x: np.ndarray, wet: float = 1.0) -> np.ndarray:
        """(channels, n) float32 in -> (channels, n) out: dry + wet * (denoised - dry), both ``delay`` late.

        Returns a view of an internal buffer, valid until the next call; ``dry`` is the input it is mixed
        with (``delay`` late), valid as long.
        """
        n = x.shape[-1]
        if n > self._out.shape[1]:
            raise ValueError(f"blocks of at most {self._out.shape[1]} samples, got {n}")
        self._in.push(x)
        self._dry.push(x)
        ready = len(self._in) - len(self._in) % self.hop
        if ready:
            self._wet.push(self._denoise(self._in.pop(ready)))
        denoised, dry = self._wet.pop(n), self._dry.pop(n)
        self.dry = dry
        out = self._out[:, :n]
        np.subtract(denoised, dry, out=out)
        out *= wet
        out += dry
        return out
