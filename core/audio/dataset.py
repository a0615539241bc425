"""Training data for the denoiser: continuous speech mixed with noise on the fly.

Speech is split by talker (``talker_of``): validation talkers, and with ``MixConfig.test_fraction`` test
talkers that neither training nor validation hear (for benchmarks); a folder of fewer than three talkers
is split by file. Each noise file is split in time (the last ``NOISE_VAL_FRACTION`` is held out). A
training crop is several seconds of continuous speech (utterances joined with natural pauses,
``core.audio.continuous``), sometimes in a room (``core.audio.augment``), in noise that may change within
the crop (noise files and built-in generators, babble of other training talkers among them), through a
random microphone, at a random SNR and level: what the live denoiser hears.
The validation set is fixed: continuous recordings of the held-out files, each in one held-out noise,
drawn once from a seeded generator.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .augment import EQ_P, REVERB_P, microphone, reverberate
from .continuous import band_limited, changing_noise, speech_track
from .io import read_folder
from .noise import BUILTIN_NOISES, builtin_noise, crop, mix_at_snr

NOISE_VAL_FRACTION = 0.2
POOLED = ("white", "pink", "brown")  # stationary built-in noises: cropped from one long take
POOL_S = 30.0
#: File names that say who speaks: LibriSpeech ``{talker}-{chapter}-{utterance}``, FSDD ``{digit}_{talker}_{n}``.
NAMED_TALKER = re.compile(r"^(\d+)-\d+-\d+$|^\d_([A-Za-z]+)_\d+$")


def talker_of(path: Path, root: Path) -> str:
    """Who speaks in ``path``: from a LibriSpeech or FSDD name, else the sub-folder below ``root`` it lies in
    (one folder per talker, as speechocean762's), else the file itself (each file its own talker)."""
    m = NAMED_TALKER.match(path.stem)
    if m:
        return m.group(1) or m.group(2)
    folder = path.parent.relative_to(root)
    return str(folder) if folder.parts else str(path.relative_to(root))


@dataclass
class MixConfig:
    """How mixtures are made."""
    segment_s: float = 4.0  # length of a training crop
    snr_db: tuple[float, float] = (-5.0, 20.0)  # uniform range
    level_db: tuple[float, float] = (-20.0, 6.0)  # random gain on each mixture (and its clean target)
    builtin: tuple[str, ...] = BUILTIN_NOISES  # built-in generators used besides the noise files
    reverb_p: float = REVERB_P  # share of training crops spoken in a simulated room
    microphone_p: float = EQ_P  # share of training mixtures through a random microphone response
    val_fraction: float = 0.1  # share of the talkers held out for validation
    test_fraction: float = 0.0  # share of the talkers heard by neither training nor validation (benchmarks)
    val_s: float = 8.0  # length of a validation recording
    max_val: int = 200  # cap on held-out speech files

    def __post_init__(self):
        unknown = set(self.builtin) - set(BUILTIN_NOISES)
        if unknown:
            raise DataError(f"unknown built-in noise {', '.join(sorted(unknown))}; "
                            f"choose from {', '.join(BUILTIN_NOISES)}")
        self.snr_db, self.level_db, self.builtin = tuple(self.snr_db), tuple(self.level_db), tuple(self.builtin)
        if self.snr_db[0] > self.snr_db[1]:
            raise DataError(f"the SNR range {self.snr_db[0]:g}..{self.snr_db[1]:g} dB is upside down")
        if not (0 <= self.test_fraction < 1 and 0 < self.val_fraction < 1 and self.val_fraction + self.test_fraction < 1):
            raise DataError(f"the validation and test shares of the talkers ({self.val_fraction:g}, "
                            f"{self.test_fraction:g}) must leave some to train on")
        if self.segment_s <= 0 or self.val_s <= 0:
            raise DataError(f"training crops and validation recordings must be longer than 0 s, "
                            f"got {self.segment_s:g} and {self.val_s:g}")

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
    test_speech: list[np.ndarray] = field(default_factory=list)  # talkers neither trained nor validated on
    test_files: list[str] = field(default_factory=list)
    noise_train: dict[str, np.ndarray] = field(default_factory=dict)  # noise file name -> training part
    noise_val: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    _pools: dict[tuple[str, bool], np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, speech_dir: Path, noise_dir: Path | None, rate: int, channels: int, mix: MixConfig,
             seed: int = 0) -> "SpeechNoiseData":
        paths, waves, skipped = read_folder(speech_dir, rate, "speech")
        if len(waves) < 2:
            raise DataError(f"{speech_dir}: need at least 2 speech files (one to train on, one to validate)")
        val, test, train = split_talkers(paths, Path(speech_dir), mix, seed)
        data = cls(rate, channels, mix, [waves[i] for i in train], [waves[i] for i in val],
                   [str(paths[i]) for i in val], [waves[i] for i in test], [str(paths[i]) for i in test],
                   skipped=skipped)
        if noise_dir is not None:
            npaths, nwaves, nskipped = read_folder(noise_dir, rate, "noise")
            data.skipped += nskipped
            for p, w in zip(npaths, nwaves):
                cut = int(len(w) * (1 - NOISE_VAL_FRACTION))
                if cut < rate // 4 or len(w) - cut < rate // 4:
                    raise DataError(f"{p}: noise files must be at least {0.25 / NOISE_VAL_FRACTION:g} s long "
                                    "(a part of each is held out for validation)")
                data.noise_train[p.name], data.noise_val[p.name] = w[:cut], w[cut:]
        if not data.noise_train and not mix.builtin:
            raise DataError("no noise to train with: give a noise folder or choose built-in noises")
        return data

    @property
    def noise_kinds(self) -> list[str]:
        return [*self.noise_train, *self.mix.builtin]

    def noise(self, kind: str, n: int, rng: np.random.Generator, val: bool = False) -> np.ndarray:
        """``n`` samples of noise ``kind`` (a file's name or a built-in kind), training or held-out."""
        files = self.noise_val if val else self.noise_train
        if kind in files:
            return crop(files[kind], n, rng)
        clips = self.val_speech if val else self.train_speech  # babble: other talkers
        if kind not in POOLED:
            return builtin_noise(kind, n, self.rate, rng, clips)
        if (kind, val) not in self._pools:  # a different take for validation
            take = np.random.default_rng([BUILTIN_NOISES.index(kind), int(val)])
            self._pools[kind, val] = builtin_noise(kind, int(POOL_S * self.rate), self.rate, take, clips)
        return crop(self._pools[kind, val], n, rng)

    def _noise_channels(self, n: int, rng: np.random.Generator, val_kind: str | None = None) -> np.ndarray:
        """(channels, n), independent per channel: training noise that changes within the crop, or held-out
        noise of ``val_kind``."""
        if val_kind is not None:
            return np.stack([self.noise(val_kind, n, rng, val=True) for _ in range(self.channels)])
        return np.stack([changing_noise(lambda kind: self.noise(kind, n, rng), self.noise_kinds, n, self.rate, rng)
                         for _ in range(self.channels)])

    def _mix(self, clean: np.ndarray, noise: np.ndarray, snr_db: np.ndarray) -> torch.Tensor:
        return mix_at_snr(torch.from_numpy(clean), torch.from_numpy(noise), torch.from_numpy(snr_db).float())

    def batches_per_epoch(self, batch_size: int) -> int:
        """Batches that hold as much speech as the training files: one epoch sees each about once."""
        speech = sum(len(s) for s in self.train_speech)
        return max(1, int(np.ceil(speech / (batch_size * self.mix.segment_s * self.rate))))

    def batch(self, size: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(noisy, clean), each float32 (size, channels, segment samples)."""
        n = int(round(self.mix.segment_s * self.rate))
        clean, noise = np.empty((2, size, self.channels, n), dtype=np.float32)
        heard = np.empty_like(clean)
        for b in range(size):
            voice, target = (np.repeat(w[None], self.channels, 0)
                             for w in reverberate(speech_track(self.train_speech, n, self.rate, rng), self.rate, rng,
                                                  self.mix.reverb_p))
            waves = np.stack([target, voice, self._noise_channels(n, rng)])
            clean[b], heard[b], noise[b] = band_limited(microphone(waves, self.rate, rng, self.mix.microphone_p),
                                                        self.rate, rng)
        noisy = self._mix(heard, noise, rng.uniform(*self.mix.snr_db, size=(size, self.channels)))
        gain = torch.from_numpy(10 ** (rng.uniform(*self.mix.level_db, size=(size, 1, 1)) / 20)).float()
        return noisy * gain, torch.from_numpy(clean) * gain

    def validation(self, seed: int = 0) -> list[Mixture]:
        """Fixed continuous recordings of ``mix.val_s`` from the held-out files (every file in at least one,
        every noise kind in turn, constant held-out noise), noises and SNRs drawn from ``seed``."""
        rng = np.random.default_rng(seed + 1)
        kinds, n = self.noise_kinds, int(round(self.mix.val_s * self.rate))
        speech = sum(len(s) for s in self.val_speech)
        count = min(self.mix.max_val, max(len(kinds), int(np.ceil(speech / (0.6 * n)))))
        order = [self.val_speech[i] for i in rng.permutation(len(self.val_speech))]
        out = []
        for i in range(count):
            kind = kinds[i % len(kinds)]
            start = i * len(order) // count  # each recording starts with its own share of the files
            clips = order[start:] + order[:start]
            clean = np.repeat(speech_track(clips, n, self.rate, rng, in_order=True, long_pause_p=0.0, level_db=0.0)[None],
                              self.channels, 0)
            snr = float(rng.uniform(*self.mix.snr_db))
            noisy = self._mix(clean, self._noise_channels(n, rng, kind), np.full(self.channels, snr))
            out.append(Mixture(noisy.numpy(), clean, kind, snr))
        return out



def split_talkers(paths: list[Path], root: Path, mix: MixConfig, seed: int) -> tuple[np.ndarray, ...]:
    """Indices of ``paths`` (sorted) for validation, test and training: whole talkers in each (``talker_of``),
    drawn from ``seed``; with fewer than three talkers, files instead of talkers (no test files)."""
    talkers = [talker_of(p, root) for p in paths]
    names = sorted(set(talkers))
    rng = np.random.default_rng(seed)
    if len(names) < 3:
        perm = rng.permutation(len(paths))
        n_val = min(mix.max_val, max(1, int(round(len(paths) * mix.val_fraction))))
        return np.sort(perm[:n_val]), np.array([], dtype=int), np.sort(perm[n_val:])
    order = [names[i] for i in rng.permutation(len(names))]
    n_test = int(round(len(names) * mix.test_fraction))
    n_val = max(1, int(round(len(names) * mix.val_fraction)))
    groups = [set(order[n_test:n_test + n_val]), set(order[:n_test]), set(order[n_test + n_val:])]
    return tuple(np.array([i for i, t in enumerate(talkers) if t in g], dtype=int) for g in groups)
