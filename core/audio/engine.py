"""The live engine: what the audio callback does with each block, and the numbers the UI shows.

``LiveEngine.process(indata, outdata)`` is called from the audio thread (PortAudio's callback, or a file
feed's thread). It resamples to the model's rate when the device runs at another rate (libsamplerate,
streaming), denoises with carried state, mixes dry and wet (or bypasses), writes the output block, and
updates level meters, scrolling monitors and timing statistics. Its queues, monitors and output buffer
are allocated up front (per block it makes only block-sized temporaries: the model step's tensors, the
resampler's output); it never locks, never waits on the UI, and holds the GIL only for the model step
and a few numpy operations. The UI reads the monitors and statistics whenever it likes (a torn read costs one
frame of a plot, nothing more). ``send``, if set, gets every output block too (the microphone other apps
hear, ``core.audio.virtual_mic``); it must not block.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import samplerate
import torch

from models.audio_dae import AudioModel

from .stream import Fifo, StreamDenoiser

RESAMPLER = "sinc_fastest"  # libsamplerate: band-limited, ~1 ms of delay, steady output per block
RESAMPLE_MARGIN = 128  # device-rate samples queued ahead to absorb the resampler's uneven output

class Monitor:
    """A ring of the newest samples of a mono signal, for the scrolling views."""

    def __init__(self, length: int):
        self.buf = np.zeros(length, dtype=np.float32)
        self.written = 0  # total samples ever written

    def write(self, x: np.ndarray) -> None:
        n, size = len(x), len(self.buf)
        if n >= size:
            self.buf[:] = x[-size:]
        else:
            i = self.written % size
            first = min(n, size - i)
            self.buf[i:i + first] = x[:first]
            self.buf[:n - first] = x[first:]
        self.written += n

    def latest(self) -> np.ndarray:
        """A copy of the ring, oldest sample first."""
        return np.roll(self.buf, -(self.written % len(self.buf)))


@dataclass
class LiveStats:
    """Timing and health of the stream, updated by the audio thread."""
    blocks: int = 0
    xruns: int = 0  # blocks the sound system flagged (over/underflow) or the engine ran short on
    busy_max_s: float = 0.0  # processing time of the slowest block
    rtf: float = 0.0  # smoothed processing time / block duration
    in_peak: float = 0.0
    out_peak: float = 0.0


class LiveEngine:
    """Denoises a live signal of ``channels`` channels at ``rate`` Hz arriving in blocks of ``block`` frames."""

    def __init__(self, model: AudioModel, rate: int, block: int, channels: int = 1, monitor_s: float = 4.0,
                 measure: bool = True):
        self.model, self.rate, self.block, self.channels = model.eval(), int(rate), int(block), int(channels)
        self.model_rate = model.sample_rate
        self.resampling = self.rate != self.model_rate
        largest = int(np.ceil(self.block * self.model_rate / self.rate)) + 64  # model-rate samples per block
        self.denoiser = StreamDenoiser(model, channels, None if self.resampling else self.block, max_block=largest)
        self.wet, self.bypass = 1.0, False
        self.send: Callable[[np.ndarray], None] | None = None
        self.stats = LiveStats()
        self.monitor_in = Monitor(int(monitor_s * self.model_rate))
        self.monitor_out = Monitor(int(monitor_s * self.model_rate))
        self._thread_ready: int | None = None
        if self.resampling:
            self._down = samplerate.Resampler(RESAMPLER, channels=channels)
            self._up = samplerate.Resampler(RESAMPLER, channels=channels)
            self._out = Fifo(channels, 4 * (self.block + RESAMPLE_MARGIN))
            self._out.push(np.zeros((channels, RESAMPLE_MARGIN), dtype=np.float32))
        self._warm_up()
        self.delay_samples = self._probe_delay() if measure else 0

    # --- the audio thread -------------------------------------------------------------------
    def process(self, indata: np.ndarray, outdata: np.ndarray) -> None:
        """One block: ``indata`` (frames, channels) float32 -> ``outdata`` (frames, channels), in place."""
        t0 = time.perf_counter()
        if self._thread_ready != threading.get_ident():  # torch's thread count is per thread
            torch.set_num_threads(1)
            self._thread_ready = threading.get_ident()
        frames = len(indata)
        x = indata.T
        if self.resampling:
            x = self._down.process(indata, self.model_rate / self.rate).T
        y = self.denoiser.process(x, 0.0 if self.bypass else self.wet)
        self.monitor_in.write(x[0])
        self.monitor_out.write(y[0])
        if self.resampling:
            self._out.push(self._up.process(y.T, self.rate / self.model_rate).T)
            ready = min(frames, len(self._out))
            outdata[:ready] = self._out.pop(ready).T
            if ready < frames:  # the resampler fell behind: pad with silence and say so
                outdata[ready:] = 0.0
                self.stats.xruns += 1
        else:
            outdata[:] = y.T
        if self.send is not None:
            self.send(outdata)
        self._meter(indata, outdata, time.perf_counter() - t0, frames)

    def _meter(self, indata: np.ndarray, outdata: np.ndarray, busy: float, frames: int) -> None:
        s = self.stats
        s.in_peak, s.out_peak = float(np.abs(indata).max()), float(np.abs(outdata).max())
        s.busy_max_s = max(s.busy_max_s, busy)
        rtf = busy * self.rate / frames
        s.rtf = rtf if s.blocks == 0 else 0.95 * s.rtf + 0.05 * rtf
        s.blocks += 1

    def flag_xrun(self) -> None:
        """The sound system reported an over- or underflow for the current block."""
        self.stats.xruns += 1

    # --- set-up ------------------------------------------------------------------------------
    def _warm_up(self) -> None:
        """Run the model once on a throw-away state, so that the first real block is not the slow one."""
        hop = self.model.stride
        with torch.inference_mode():
            state = self.model.init_state(self.denoiser.batch)
            x = torch.zeros(self.denoiser.batch, self.model.channels, 4 * hop)
            for _ in range(3):
                self.model.stream_step(x, state)

    def _probe_delay(self) -> int:
        """Input-to-output delay in device samples, measured by sending a click through a twin in bypass."""
        probe = LiveEngine(self.model, self.rate, self.block, self.channels, monitor_s=0.1, measure=False)
        probe.bypass = True
        blocks = 3 + (4 * self.model.latency_samples * self.rate // self.model_rate + RESAMPLE_MARGIN) // self.block
        signal = np.zeros((blocks * self.block, self.channels), dtype=np.float32)
        signal[self.block // 2] = 1.0
        out = np.zeros_like(signal)
        for i in range(blocks):
            probe.process(signal[i * self.block:(i + 1) * self.block], out[i * self.block:(i + 1) * self.block])
        return int(np.argmax(np.abs(out[:, 0]))) - self.block // 2

    @property
    def latency_ms(self) -> float:
        """Measured delay through the engine (model, hop buffering, resampling), in ms."""
        return 1000.0 * self.delay_samples / self.rate

    @property
    def model_latency_ms(self) -> float:
        """The model's own algorithmic latency, in ms."""
        return 1000.0 * self.model.latency_samples / self.model_rate
