"""Feed a recording into a ``LiveEngine`` at real-time pace from a thread: the live view without a
sound device (or to hear what a file sounds like through the live path, block by block)."""
from __future__ import annotations

import threading
import time

import numpy as np

from ..threads import start_thread, stop_at_exit
from .engine import LiveConfig, LiveEngine


class FileFeed:
    """Plays ``wave`` (C, T) at ``config.rate`` into ``engine`` (which runs with ``config``) in blocks of
    ``config.block``, looping; output is discarded (kept in ``engine``'s monitors). Same interface as
    ``LiveStream``: ``start``, ``stop``, ``problem``."""

    def __init__(self, config: LiveConfig, engine: LiveEngine, wave: np.ndarray):
        if engine.config != config:
            raise ValueError(f"the engine runs with {engine.config}, the feed would play {config}")
        if wave.shape[0] != config.channels:
            raise ValueError(f"the wave has {wave.shape[0]} channels, the config {config.channels}")
        self.config, self.engine = config, engine
        self.wave = np.ascontiguousarray(wave.T, dtype=np.float32)  # (T, C) like PortAudio's blocks
        self.device_latency_ms = 0.0
        self.problem = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "FileFeed":
        self._thread = start_thread(self._main, name="audio-file-feed")
        stop_at_exit(self)
        return self

    def _main(self) -> None:
        e, c = self.engine, self.config
        block = np.zeros((c.block, c.channels), dtype=np.float32)
        out = np.zeros_like(block)
        period = c.block / c.rate
        pos, deadline = 0, time.monotonic()
        try:
            while not self._stop.is_set():
                n = min(c.block, len(self.wave) - pos)
                block[:n] = self.wave[pos:pos + n]
                block[n:] = 0.0
                e.process(block, out)
                pos = 0 if pos + n >= len(self.wave) else pos + n
                deadline += period
                late = time.monotonic() - deadline
                if late > period:  # fell a whole block behind: a dropout, as a sound card would see it
                    e.flag_xrun()
                    deadline = time.monotonic()
                elif late < 0:
                    self._stop.wait(-late)
        except Exception as exc:
            self.problem = f"the audio processing failed ({type(exc).__name__}: {exc})"

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(2.0)
