"""Reading, writing and resampling audio. Waves are float32 numpy arrays shaped (channels, samples)."""
from __future__ import annotations

import logging
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import DataError

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".aiff", ".aif"}


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


def read_audio(path: Path, rate: int | None = None, channels: int | None = None) -> tuple[np.ndarray, int]:
    """A sound file as float32 (channels, samples) in [-1, 1], optionally resampled and re-channelled.

    Returns (wave, sample rate). Raises ``DataError`` with the reason if the file cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such audio file")
    try:
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: not a readable audio file ({str(exc).splitlines()[0][:200]})") from exc
    if data.shape[0] == 0:
        raise DataError(f"{path}: the audio file has no samples")
    wave = np.ascontiguousarray(data.T)
    if not np.isfinite(wave).all():
        raise DataError(f"{path}: the audio contains NaN or infinite values")
    if channels is not None:
        wave = match_channels(wave, channels)
    if rate is not None and rate != file_rate:
        wave, file_rate = resample(wave, file_rate, rate), rate
    return wave, int(file_rate)


def write_audio(path: Path, wave: np.ndarray, rate: int) -> Path:
    """Write (channels, samples) as 16-bit PCM (WAV/FLAC by suffix), clipped to [-1, 1]."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        sf.write(str(path), np.clip(np.asarray(wave, dtype=np.float32).T, -1.0, 1.0), int(rate), subtype="PCM_16")
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: could not write audio ({str(exc).splitlines()[0][:200]})") from exc
    return path


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
