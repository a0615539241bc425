"""Recording from a microphone: ``Recorder`` keeps what an input device hears in a preallocated buffer (up to
``max_s``), with the level of the last block and the seconds so far for a meter and a timer."""
from __future__ import annotations

import numpy as np

from ..errors import AudioDeviceError
from ..threads import stop_at_exit
from .devices import _sounddevice, quiet_stderr


class Recorder:
    """Records ``device`` (mono) at ``rate`` Hz until ``stop`` or ``max_s`` seconds."""

    def __init__(self, device: int | None, rate: int, max_s: float = 600.0):
        self.device, self.rate = device, int(rate)
        self.buffer = np.zeros(int(max_s * rate), dtype=np.float32)
        self.frames, self.level = 0, 0.0
        self._stream = None

    def start(self) -> "Recorder":
        sd = _sounddevice()
        try:
            with quiet_stderr():
                self._stream = sd.InputStream(device=self.device, samplerate=self.rate, channels=1, dtype="float32",
                                              callback=self._callback)
                self._stream.start()
        except Exception as exc:  # PortAudioError, ValueError
            self._stream = None
            raise AudioDeviceError(f"could not record from the input device at {self.rate} Hz: {exc}") from exc
        stop_at_exit(self)
        return self

    def _callback(self, indata, frames, time_info, status) -> None:
        n = min(frames, len(self.buffer) - self.frames)
        self.buffer[self.frames:self.frames + n] = indata[:n, 0]
        self.frames += n
        self.level = float(np.abs(indata).max()) if frames else 0.0

    @property
    def seconds(self) -> float:
        return self.frames / self.rate

    @property
    def full(self) -> bool:
        return self.frames >= len(self.buffer)

    def stop(self) -> np.ndarray:
        """Stop; the recording so far, (1, T)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            with quiet_stderr():
                stream.abort(ignore_errors=True)
                stream.close(ignore_errors=True)
        return self.buffer[None, :self.frames].copy()
