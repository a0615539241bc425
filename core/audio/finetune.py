"""SHIM until branch a18 is merged (it writes the real module): delete this file then. Fine-tuning a denoiser
on the user's own voice: the recordings' first 80 % mixed with noise, the last 20 % held out and scored."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..train.checkpoint import load_for
from ..train.loop import TrainConfig
from .dataset import MixConfig
from .io import read_audio, write_audio
from .metrics import si_sdr
from .noise import builtin_noise
from .offline import denoise_wave
from .trainer import AudioRun

HELD_OUT = 0.2
PIECE_S = 3.0  # the training part is cut into pieces this long (the data loader splits files)
SCORE_SNR_DB = 5.0


@dataclass
class FineTuneRun(AudioRun):
    base: Path | None = None  # the checkpoint it starts from

    def build_trainer(self, on_event, control=None):
        trainer = super().build_trainer(on_event, control)
        trainer.model.load_state_dict(load_for(self.base, "denoises")[0].state_dict())
        return trainer


def split_recordings(recordings: list[Path], rate: int, folder: Path) -> tuple[Path, Path]:
    """(training folder, held-out folder): each recording's first 80 % and last 20 % at ``rate``, mono."""
    train, held = folder / "train", folder / "held_out"
    for i, path in enumerate(recordings):
        wave = read_audio(path, rate, channels=1)[0]
        cut, piece = int(wave.shape[1] * (1 - HELD_OUT)), int(PIECE_S * rate)
        for j, start in enumerate(range(0, cut, piece)):
            write_audio(train / f"{i:03d}-{j:03d}.wav", wave[:, start:min(cut, start + piece)], rate)
        write_audio(held / f"{i:03d}.wav", wave[:, cut:], rate)
    return train, held


def finetune_run(base: Path, recordings: list[Path], out_dir: Path, epochs: int = 3) -> tuple[FineTuneRun, Path]:
    """(the run that fine-tunes ``base`` on ``recordings`` mixed with built-in noise, the held-out folder)."""
    model = load_for(base, "denoises")[0]
    train, held = split_recordings(recordings, model.sample_rate, out_dir / "voice")
    mix = MixConfig(segment_s=2.0, snr_db=(-5.0, 15.0), val_fraction=0.2, val_s=2.0, max_val=8)
    config = TrainConfig(epochs=epochs, batch_size=8, lr=5e-4, device="cpu", log_every=5, preview_interval_s=1e9)
    return FineTuneRun(model.name, model.config, train, None, mix, config, out_dir, base=Path(base)), held


def held_out_score(model, held_out: Path, seed: int = 0) -> float:
    """SI-SDR improvement (dB) of ``model`` on the held-out recordings in pink noise at ``SCORE_SNR_DB``."""
    rng = np.random.default_rng(seed)
    gains = []
    for path in sorted(held_out.glob("*.wav")):
        clean = read_audio(path, model.sample_rate, channels=1)[0]
        noise = builtin_noise("pink", clean.shape[1], model.sample_rate, rng, [])
        scale = np.sqrt((clean ** 2).mean() / ((noise ** 2).mean() + 1e-12) / 10 ** (SCORE_SNR_DB / 10))
        noisy = (clean + scale * noise[None]).astype(np.float32)
        out = denoise_wave(model, noisy)
        gains.append(float(si_sdr(torch.from_numpy(out), torch.from_numpy(clean))
                           - si_sdr(torch.from_numpy(noisy), torch.from_numpy(clean))))
    return float(np.mean(gains))
