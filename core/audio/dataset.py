"""Training data for the denoiser: clean speech mixed with noise on the fly.

Speech files are split into training and held-out validation files; each noise file is split in time
(the last ``NOISE_VAL_FRACTION`` is held out). Training batches are random crops of speech, each mixed
with a random noise (a noise file or a built-in generator) at a random SNR and a random level. The
validation set is fixed: one mixture per held-out file, drawn once from a seeded generator.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .io import read_folder
from .noise import BUILTIN_NOISES, builtin_noise, crop, mix_at_snr

NOISE_VAL_FRACTION = 0.15


@dataclass
class MixConfig:
    """How mixtures are made."""
    segment_s: float = 1.0  # length of a training crop
    snr_db: tuple[float, float] = (-5.0, 15.0)  # uniform range
    level_db: tuple[float, float] = (-12.0, 6.0)  # random gain on each mixture (and its clean target)
    builtin: tuple[str, ...] = BUILTIN_NOISES  # built-in generators used besides the noise files
    val_fraction: float = 0.1
    max_val: int = 200  # cap on validation mixtures

    def __post_init__(self):
        unknown = set(self.builtin) - set(BUILTIN_NOISES)
        if unknown:
            raise DataError(f"unknown built-in noise {', '.join(sorted(unknown))}; "
                            f"choose from {', '.join(BUILTIN_NOISES)}")
        self.snr_db, self.level_db, self.builtin = tuple(self.snr_db), tuple(self.level_db), tuple(self.builtin)
        if self.snr_db[0] > self.snr_db[1]:
            raise DataError(f"the SNR range {self.snr_db[0]:g}..{self.snr_db[1]:g} dB is upside down")
        if self.segment_s <= 0:
            raise DataError(f"training crops must be longer than 0 s, got {self.segment_s:g}")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "MixConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class Mixture:
    noisy: np.ndarray  # (C, T)
    clean: np.ndarray  # (C, T)
    noise: str
    snr_db: float


@dataclass
class SpeechNoiseData:
    """Speech and noise at the model's rate, split into training and validation parts."""
    rate: int
    channels: int
    mix: MixConfig
    train_speech: list[np.ndarray]
    val_speech: list[np.ndarray]
    val_files: list[str]
    noise_train: dict[str, np.ndarray] = field(default_factory=dict)  # noise file name -> training part
    noise_val: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, speech_dir: Path, noise_dir: Path | None, rate: int, channels: int, mix: MixConfig,
             seed: int = 0) -> "SpeechNoiseData":
        paths, waves, skipped = read_folder(speech_dir, rate, "speech")
        if len(waves) < 2:
            raise DataError(f"{speech_dir}: need at least 2 speech files (one to train on, one to validate)")
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(waves))
        n_val = min(mix.max_val, max(1, int(round(len(waves) * mix.val_fraction))))
        val, train = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        data = cls(rate, channels, mix, [waves[i] for i in train], [waves[i] for i in val],
                   [str(paths[i]) for i in val], skipped=skipped)
        if noise_dir is not None:
            npaths, nwaves, nskipped = read_folder(noise_dir, rate, "noise")
            data.skipped += nskipped
            for p, w in zip(npaths, nwaves):
                cut = int(len(w) * (1 - NOISE_VAL_FRACTION))
                if cut < rate // 4 or len(w) - cut < rate // 4:
                    raise DataError(f"{p}: noise files must be at least {2 / NOISE_VAL_FRACTION / 4:.0f} s long "
                                    "(a part of each is held out for validation)")
                data.noise_train[p.name], data.noise_val[p.name] = w[:cut], w[cut:]
        if not data.noise_train and not mix.builtin:
            raise DataError("no noise to train with: give a noise folder or choose built-in noises")
        return data

    @property
    def noise_kinds(self) -> list[str]:
        return [*self.noise_train, *self.mix.builtin]

    def noise(self, kind: str, n: int, rng: np.random.Generator, val: bool = False) -> np.ndarray:
        files = self.noise_val if val else self.noise_train
        if kind in files:
            return crop(files[kind], n, rng)
        return builtin_noise(kind, n, self.rate, rng, self.val_speech if val else self.train_speech)

    def _noise_channels(self, kind: str, n: int, rng, val: bool = False) -> np.ndarray:
        return np.stack([self.noise(kind, n, rng, val) for _ in range(self.channels)])

    def batch(self, size: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(noisy, clean), each float32 (size, channels, segment samples)."""
        n = int(round(self.mix.segment_s * self.rate))
        clean = np.zeros((size, self.channels, n), dtype=np.float32)
        noise = np.empty_like(clean)
        kinds = self.noise_kinds
        for b in range(size):
            speech = self.train_speech[int(rng.integers(len(self.train_speech)))]
            if len(speech) >= n:
                clean[b] = crop(speech, n, rng)
            else:
                start = int(rng.integers(n - len(speech) + 1))
                clean[b, :, start:start + len(speech)] = speech
            noise[b] = self._noise_channels(kinds[int(rng.integers(len(kinds)))], n, rng)
        snr = torch.from_numpy(rng.uniform(*self.mix.snr_db, size=(size, self.channels))).float()
        clean_t = torch.from_numpy(clean)
        noisy = mix_at_snr(clean_t, torch.from_numpy(noise), snr)
        gain = torch.from_numpy(10 ** (rng.uniform(*self.mix.level_db, size=(size, 1, 1)) / 20)).float()
        return noisy * gain, clean_t * gain

    def validation(self, seed: int = 0) -> list[Mixture]:
        """One fixed mixture per held-out speech file, noises and SNRs drawn from ``seed``."""
        rng = np.random.default_rng(seed + 1)
        kinds = self.noise_kinds
        out = []
        for i, speech in enumerate(self.val_speech):
            kind = kinds[i % len(kinds)]
            snr = float(rng.uniform(*self.mix.snr_db))
            clean = np.repeat(speech[None], self.channels, axis=0)
            noise = self._noise_channels(kind, len(speech), rng, val=True)
            noisy = mix_at_snr(torch.from_numpy(clean), torch.from_numpy(noise), torch.full((self.channels,), snr))
            out.append(Mixture(noisy.numpy(), clean, kind, snr))
        return out
