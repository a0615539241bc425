"""The Audio panel's File tab, headless: a recording opened, denoised offline (with progress, cancellable),
played before or after on the Live tab's output device at a rate that device takes, saved.

Part of ``AudioSession`` (``session.file``); it tells the views "file" when something changed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.audio.devices import play, playable, stop_playback
from core.audio.io import read_audio, write_audio
from core.audio.offline import denoise_recording
from core.errors import AudioDeviceError

from . import Work


class FileSession:
    def __init__(self, audio):
        self.audio = audio  # the AudioSession: its model and output device
        self.path: Path | None = None
        self.original: np.ndarray | None = None
        self.result: np.ndarray | None = None
        self.rate = 0
        self.busy = False
        self.info = "Open a recording (WAV, FLAC, OGG) to denoise it."

    def _says(self, text: str) -> None:
        self.info = text
        self.audio._changed("file")

    # --- open ---------------------------------------------------------------------------------
    def open(self, path: str | Path) -> Work:
        """Read ``path`` (off the UI thread); a file that cannot be read leaves the view as it was
        (``failed`` says why)."""
        path = Path(path)
        self._says(f"Reading {path}…")
        return Work(f"reading {path.name}", read_audio, (path,), lambda result: self._opened(path, *result))

    def failed(self, what: str, message: str) -> None:
        self.busy = False
        self._says(f"{what}: {message}")

    def _opened(self, path: Path, wave: np.ndarray, rate: int) -> None:
        self.path, self.original, self.rate, self.result = path, wave, rate, None
        self._says(f"{path.name}: {wave.shape[1] / rate:.1f} s, {rate} Hz, "
                   f"{'mono' if wave.shape[0] == 1 else f'{wave.shape[0]} channels'}")

    # --- denoise ------------------------------------------------------------------------------
    @property
    def can_denoise(self) -> bool:
        return self.audio.model is not None and self.original is not None and not self.busy

    def denoise(self) -> Work | None:
        """The denoising as a Work whose ``compute`` takes ``progress`` and ``cancel`` keywords (a job)."""
        if not self.can_denoise:
            return None
        self.busy = True
        self.audio._changed("file")
        return Work("denoising", _denoise, (self.audio.model, self.original, self.rate), self._denoised)

    def _denoised(self, result: np.ndarray) -> None:
        self.busy, self.result = False, result
        self._says(self.info)

    def cancelled(self) -> None:
        self.busy = False
        self._says("Denoising cancelled.")

    # --- play and save ------------------------------------------------------------------------
    @property
    def can_play(self) -> bool:
        return self.audio.output_device() is not None

    def play(self, which: str) -> bool:
        """Play the recording ("before") or its denoised copy ("after") on the output device, resampled to a
        rate the device takes; False (and a message) if it cannot."""
        wave = self.original if which == "before" else self.result
        device = self.audio.output_device()
        if wave is None or device is None:
            return False
        try:
            wave, rate = playable(wave, self.rate, device)
            play(wave, rate, device.index)
        except AudioDeviceError as exc:
            self._says(str(exc))
            return False
        resampled = f", resampled to {rate} Hz for {device.name}" if rate != self.rate else ""
        self._says(f"Playing {'the recording' if which == 'before' else 'the denoised recording'}{resampled}.")
        return True

    @staticmethod
    def stop_playback() -> None:
        stop_playback()

    def suggested_target(self) -> str:
        return str(self.path.with_name(f"{self.path.stem}_denoised.wav")) if self.path else "denoised.wav"

    def save(self, path: str | Path) -> Work | None:
        if self.result is None:
            return None
        return Work(f"saving {Path(path).name}", write_audio, (Path(path), self.result, self.rate),
                    lambda saved: self._says(f"Saved {saved}"))


def _denoise(model, wave: np.ndarray, rate: int, progress=None, cancel=None) -> np.ndarray:
    """``denoise_recording`` with a job's ``progress(fraction, text)`` and ``cancel`` (an Event)."""
    return denoise_recording(model, wave, rate, (lambda f: progress(f, "denoising")) if progress else None,
                             cancel.is_set if cancel is not None else None)
