"""The live engine: what the audio callback does with each block, and the numbers the UI shows.

``LiveEngine.process(indata, outdata)`` is called from the audio thread (PortAudio's callback, or a file
feed's thread). The rate, block and channels come from one ``LiveConfig`` that the stream opening the device
reads too. The engine resamples to the model's rate when the device runs at another rate (libsamplerate,
streaming), denoises with carried state, mixes dry and wet (or bypasses), resamples back and, above the
model's band, adds the device's own high band with the model's top-band gain (``core.audio.bands``), writes
the output block, and updates level meters, scrolling monitors and timing statistics. Its queues, monitors and output buffer
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

from .bands import RESAMPLER, HighBand, TopBandGain, chain_delay
from .stream import Fifo, StreamDenoiser

RESAMPLE_MARGIN = 128  # device-rate samples queued ahead to absorb the resampler's uneven output


@dataclass(frozen=True)
class LiveConfig:
    """How live audio runs: the device's rate (Hz), frames per callback, channels. The engine and the stream
    that opens the device both read this one config."""
    rate: int
    block: int
    channels: int = 1

    @property
    def block_ms(self) -> float:
        return 1000.0 * self.block / self.rate


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
    """Denoises a live signal as ``config`` says (rate, block, channels)."""

    def __init__(self, model: AudioModel, config: LiveConfig, monitor_s: float = 4.0):
        self.model, self.config = model.eval(), config
        self.rate, self.block, self.channels = config.rate, config.block, config.channels
        self.model_rate = model.sample_rate
        self.resampling = self.rate != self.model_rate
        largest = int(np.ceil(self.block * self.model_rate / self.rate)) + 64  # model-rate samples per block
        self.denoiser = StreamDenoiser(model, self.channels, None if self.resampling else self.block,
                                       max_block=largest)
        self.wet, self.bypass = 1.0, False
        self.send: Callable[[np.ndarray], None] | None = None
        self.stats = LiveStats()
        self.monitor_in = Monitor(int(monitor_s * self.model_rate))
        self.monitor_out = Monitor(int(monitor_s * self.model_rate))
        self._thread_ready: int | None = None
        self.high_band: HighBand | None = None
        if self.resampling:
            c = self.channels
            self._down = samplerate.Resampler(RESAMPLER, channels=c)
            self._up = samplerate.Resampler(RESAMPLER, channels=3 * c)  # output, its dry input, the top-band gain
            self._out = Fifo(3 * c, 4 * (self.block + RESAMPLE_MARGIN))
            self._out.push(np.zeros((3 * c, RESAMPLE_MARGIN), dtype=np.float32))
            delay = chain_delay(self.rate, self.model_rate, self.denoiser.delay, RESAMPLE_MARGIN)
            if self.rate > self.model_rate:
                self.high_band, self._gain = HighBand(delay, c), TopBandGain(self.model_rate, c)
        else:
            delay = self.denoiser.delay
        self.delay_samples = int(round(delay))
        self._warm_up()

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
            self._resample_out(indata, y, outdata)
        else:
            outdata[:] = y.T
        if self.send is not None:
            self.send(outdata)
        self._meter(indata, outdata, time.perf_counter() - t0, frames)

    def _resample_out(self, indata: np.ndarray, y: np.ndarray, outdata: np.ndarray) -> None:
        """The model-rate output ``y`` (and the dry input and top-band gain beside it) back at the device's rate,
        plus the device's band above the model's."""
        c, frames = self.channels, len(indata)
        dry = self.denoiser.dry
        gain = self._gain.process(y, dry) if self.high_band is not None else np.ones_like(y)
        self._out.push(self._up.process(np.concatenate([y, dry, gain]).T, self.rate / self.model_rate).T)
        ready = min(frames, len(self._out))
        queued = self._out.pop(ready)
        out = np.zeros((c, frames), dtype=np.float32)
        out[:, :ready] = queued[:c]
        if self.high_band is not None:
            dry_low, gain = np.zeros_like(out), np.zeros_like(out)
            dry_low[:, :ready], gain[:, :ready] = queued[c:2 * c], queued[2 * c:]
            self.high_band.add(out, indata.T, dry_low, gain)
        if ready < frames:  # the resampler fell behind: silence in the model's band, and say so
            self.stats.xruns += 1
        outdata[:] = out.T

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

    @property
    def latency_ms(self) -> float:
        """Measured delay through the engine (model, hop buffering, resampling), in ms."""
        return 1000.0 * self.delay_samples / self.rate

    @property
    def model_latency_ms(self) -> float:
        """The model's own algorithmic latency, in ms."""
        return 1000.0 * self.model.latency_samples / self.model_rate
