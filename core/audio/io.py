"""Reading, writing and resampling audio. Waves are float32 numpy arrays shaped (channels, samples).

A file's sample rate and channel count are checked before any sample is read (``RATE_RANGE``,
``MAX_CHANNELS``); ``AudioReader`` and ``AudioWriter`` go block by block, so a long recording never has
to fit in memory, and a written file appears only once it is complete.
"""
from __future__ import annotations

import logging
import os
import tempfile
from math import gcd
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf

from ..errors import DataError, os_error_words
from ..train.files import usual_mode

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".aiff", ".aif"}
RATE_RANGE = (4_000, 384_000)  # Hz
MAX_CHANNELS = 8
BLOCK_FRAMES = 1 << 16


def resample(wave: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Band-limited polyphase resampling along the last axis (scipy's ``resample_poly``)."""
    from scipy.signal import resample_poly  # imported here: scipy.signal costs every command ~1 s of start-up
    wave = np.asarray(wave, dtype=np.float32)
    if from_rate == to_rate:
        return np.ascontiguousarray(wave)
    g = gcd(int(from_rate), int(to_rate))
    return resample_poly(wave, int(to_rate) // g, int(from_rate) // g, axis=-1).astype(np.float32)


def match_channels(wave: np.ndarray, channels: int) -> np.ndarray:
    """(C, T) -> (channels, T): mono is copied to every channel, more channels than wanted are averaged."""
    if wave.shape[0] == channels:
        return wave
    if wave.shape[0] == 1:
        return np.repeat(wave, channels, axis=0)
    mono = wave.mean(axis=0, keepdims=True)
    return mono if channels == 1 else np.repeat(mono, channels, axis=0)


def _first_line(exc: Exception) -> str:
    return (os_error_words(exc) if isinstance(exc, OSError) else str(exc).splitlines()[0])[:200]


class AudioReader:
    """A sound file opened for reading block by block; its rate and channels checked on opening (``DataError``
    naming the file). Use it in a ``with`` block."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"{self.path}: no such audio file")
        try:
            self._file = sf.SoundFile(str(self.path))
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as exc:
            raise DataError(f"{self.path}: not a readable audio file ({_first_line(exc)})") from exc
        self.rate, self.channels, self.frames = int(self._file.samplerate), int(self._file.channels), self._file.frames
        problem = (f"its sample rate of {self.rate:,} Hz is outside {RATE_RANGE[0]:,} to {RATE_RANGE[1]:,} Hz"
                   if not RATE_RANGE[0] <= self.rate <= RATE_RANGE[1] else
                   f"it has {self.channels} channels (at most {MAX_CHANNELS})" if self.channels > MAX_CHANNELS else
                   "the audio file has no samples" if self.frames == 0 else "")
        if problem:
            self._file.close()
            raise DataError(f"{self.path}: {problem}")

    def blocks(self, frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
        """The samples as float32 (channels, n) blocks of ``frames`` (the last shorter)."""
        try:
            for block in self._file.blocks(frames, dtype="float32", always_2d=True):
                wave = np.ascontiguousarray(block.T)
                if not np.isfinite(wave).all():
                    raise DataError(f"{self.path}: the audio contains NaN or infinite values")
                yield wave
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise DataError(f"{self.path}: could not read the audio ({_first_line(exc)})") from exc

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "AudioReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AudioWriter:
    """16-bit PCM (WAV/FLAC by the suffix) written block by block into a temporary file that becomes ``path``
    only when the ``with`` block ends well: a failed write (``DataError`` naming the file and the cause) leaves
    nothing behind."""

    def __init__(self, path: Path, rate: int, channels: int):
        self.path = Path(path)
        kind = self.path.suffix.lstrip(".").upper()
        if kind not in sf.available_formats():
            raise DataError(f"{self.path}: write audio to a .wav or .flac file")
        self._tmp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, self._tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
            os.close(fd)
            self._file = sf.SoundFile(self._tmp, "w", int(rate), int(channels), "PCM_16", format=kind)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as exc:
            self._discard()
            raise self._error(exc) from exc

    def write(self, wave: np.ndarray) -> None:
        """Append (channels, n) samples, clipped to [-1, 1]."""
        try:
            self._file.write(np.clip(np.asarray(wave, dtype=np.float32).T, -1.0, 1.0))
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise self._error(exc) from exc

    def _error(self, exc: Exception) -> DataError:
        return DataError(f"{self.path}: could not write audio ({_first_line(exc)})")

    def _discard(self) -> None:
        if self._tmp is not None:
            Path(self._tmp).unlink(missing_ok=True)

    def __enter__(self) -> "AudioWriter":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        try:
            self._file.close()  # completes the header: a full disk may show only now
            if kind is None:
                usual_mode(self._tmp)  # (not mkstemp's owner-only 0600)
                os.replace(self._tmp, self.path)
        except (sf.LibsndfileError, RuntimeError, OSError) as error:
            self._discard()
            if kind is None:
                raise self._error(error) from error
        else:
            if kind is not None:
                self._discard()


def read_audio(path: Path, rate: int | None = None, channels: int | None = None) -> tuple[np.ndarray, int]:
    """A sound file as float32 (channels, samples) in [-1, 1], optionally resampled and re-channelled.

    Returns (wave, sample rate). Raises ``DataError`` with the reason if the file cannot be read.
    """
    with AudioReader(path) as reader:
        wave, file_rate = np.concatenate(list(reader.blocks()), axis=1), reader.rate
    if channels is not None:
        wave = match_channels(wave, channels)
    if rate is not None and rate != file_rate:
        wave, file_rate = resample(wave, file_rate, rate), rate
    return wave, int(file_rate)


def write_audio(path: Path, wave: np.ndarray, rate: int) -> Path:
    """Write (channels, samples) as 16-bit PCM (WAV/FLAC by suffix), clipped to [-1, 1]."""
    wave = np.asarray(wave, dtype=np.float32)
    with AudioWriter(path, rate, wave.shape[0]) as writer:
        writer.write(wave)
    return Path(path)


def list_audio_files(folder: Path, what: str = "audio") -> list[Path]:
    """Sound files (wav, flac, ogg, aiff) below ``folder``, sorted; ``DataError`` if there are none."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder of {what} files")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"{folder}: no {what} files ({', '.join(sorted(AUDIO_SUFFIXES))}) in this folder")
    return files


def read_folder(folder: Path, rate: int, what: str = "audio") -> tuple[list[Path], list[np.ndarray], list[str]]:
    """Every readable file below ``folder`` as mono float32 at ``rate``: (paths, waves, skipped files)."""
    paths, waves, skipped = [], [], []
    for f in list_audio_files(folder, what):
        try:
            wave, _ = read_audio(f, rate, channels=1)
        except DataError as exc:
            log.warning("skipping %s", exc)
            skipped.append(str(f))
            continue
        paths.append(f)
        waves.append(wave[0])
    if not waves:
        raise DataError(f"{folder}: none of the {len(skipped)} {what} files could be read")
    return paths, waves, skipped
