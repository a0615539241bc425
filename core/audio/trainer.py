"""Training an audio denoiser through the shared loop (``core.train.loop``): the same events as image training, so
the same worker, bridge and training panel show it.

Events: ``metrics`` rows (``step``, ``epoch``, ``split``, ``loss``, one key per loss component, plus
``sisdr``: SI-SDR of the denoised output in dB and ``sisdr_improvement``: its gain over the noisy
input; validation rows also carry ``sisdr_input`` and ``sisdr_decay``: the gain over the last third of
the held-out recordings less that over the first), ``preview`` (spectrogram images of held-out
mixtures: ``original`` noisy, ``reconstruction`` denoised), ``state`` and ``checkpoint``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from models import build_model

from ..errors import TrainingError
from ..train.loop import Batch, Control, TrainConfig, TrainerBase
from .dataset import MixConfig, SpeechNoiseData
from .evaluate import thirds_gain
from .metrics import si_sdr
from .spectrum import spectrogram_db, spectrogram_image

AUDIO_TRAIN_DEFAULTS = {"epochs": 40, "batch_size": 16, "lr": 2e-3}
PREVIEW_CLIPS = 4
VAL_BATCH = 16


@dataclass
class AudioRun:
    """A denoiser training run: model spec, speech and noise folders, mixing, where to write (a
    ``core.train.run.TrainingRun``)."""
    model_name: str
    model_config: dict
    speech_dir: Path
    noise_dir: Path | None = None
    mix: MixConfig = field(default_factory=MixConfig)
    config: TrainConfig = field(default_factory=lambda: TrainConfig(**AUDIO_TRAIN_DEFAULTS))
    out_dir: Path | None = None
    resume: dict | None = None  # a checkpoint payload to continue from
    init_state: dict | None = None  # weights to start a fresh run from (fine-tuning a trained denoiser)

    unit = "clips"

    @property
    def dataset_source(self) -> str:
        return str(self.speech_dir)

    def describe(self) -> str:
        return self.speech_dir.name

    def build_trainer(self, on_event: Callable[[dict], None], control: Control | None = None) -> "AudioTrainer":
        return AudioTrainer(self, on_event, control)


def _pad_stack(waves: list[np.ndarray]) -> torch.Tensor:
    """(C, T_i) arrays -> zero-padded (N, C, max T) tensor."""
    out = np.zeros((len(waves), waves[0].shape[0], max(w.shape[-1] for w in waves)), dtype=np.float32)
    for i, w in enumerate(waves):
        out[i, :, :w.shape[-1]] = w
    return torch.from_numpy(out)


class AudioTrainer(TrainerBase):
    unit = "clips"
    validation_place = "on the held-out mixtures"

    def __init__(self, run: AudioRun, on_event: Callable[[dict], None] = lambda e: None,
                 control: Control | None = None):
        super().__init__(run, on_event, control)
        self.model = build_model(run.model_name, run.model_config).to(self.device)
        if self.model.capabilities.modality != "audio":
            raise TrainingError(f"{run.model_name} is not an audio model")
        self.data = SpeechNoiseData.load(run.speech_dir, run.noise_dir, self.model.sample_rate, self.model.channels,
                                         run.mix, self.cfg.seed)
        self.val = self.data.validation(self.cfg.seed)
        self.optimizers = self.model.configure_optimizers(self.cfg.lr)
        if run.resume:
            self.restore(run.resume)
        elif run.init_state:
            try:
                self.model.load_state_dict(run.init_state)
            except RuntimeError as exc:  # other names or shapes
                raise TrainingError(f"the starting weights do not fit {run.model_name} {run.model_config} "
                                    f"({str(exc).splitlines()[0][:200]})") from exc

    def train_state_extra(self) -> dict:
        run = self.run
        return {"speech_dir": str(run.speech_dir), "noise_dir": str(run.noise_dir) if run.noise_dir else None,
                "mix": run.mix.to_dict(), "val_files": self.data.val_files}

    # --- hooks of the loop ----------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        """As many batches as hold as much speech as the training files (shared among the ranks)."""
        return math.ceil(self.data.batches_per_epoch(self.cfg.batch_size) / self.ranks.world_size)

    def batch(self, epoch: int, index: int) -> Batch:
        """Random mixtures drawn from the step's own seed (each rank its own)."""
        rng = np.random.default_rng([self.cfg.seed, epoch, index * self.ranks.world_size + self.ranks.rank])
        return tuple(t.to(self.device, non_blocking=True) for t in self.data.batch(self.cfg.batch_size, rng))

    def step_metrics(self, batch: Batch) -> dict:
        noisy, clean = batch
        out = si_sdr(self.model(noisy), clean)
        return {"r2": None, "sisdr": float(out.mean()), "sisdr_improvement": float((out - si_sdr(noisy, clean)).mean())}

    def denoise_clips(self, noisy: list[np.ndarray]) -> list[np.ndarray]:
        """Model outputs for (C, T_i) clips, batched with zero padding (call in eval mode)."""
        out = []
        for i in range(0, len(noisy), VAL_BATCH):
            chunk = noisy[i:i + VAL_BATCH]
            y = self.model(_pad_stack(chunk).to(self.device)).cpu().numpy()
            out += [y[j, :, :w.shape[-1]] for j, w in enumerate(chunk)]
        return out

    def validation_size(self) -> int:
        return len(self.val)

    def validation_sums(self, positions: list[int]) -> dict[str, float]:
        """Sums over the held-out recordings at ``positions`` of the loss, of the SI-SDR of input and output
        and of the decay (last third's improvement less the first's)."""
        clips = [self.val[i] for i in positions]
        outputs = self.denoise_clips([m.noisy for m in clips])
        sums = {"sdr_in": 0.0, "sdr_out": 0.0, "decay": 0.0}
        for m, y in zip(clips, outputs):
            for k, v in self.model.criterion(torch.from_numpy(y), torch.from_numpy(m.clean)).items():
                sums[k] = sums.get(k, 0.0) + float(v)
            sums["sdr_in"] += float(si_sdr(m.noisy, m.clean).mean())
            sums["sdr_out"] += float(si_sdr(y, m.clean).mean())
            first, last = thirds_gain(y, m.noisy, m.clean)
            sums["decay"] += last - first
        return sums

    def validation_row(self, sums: dict[str, float], count: int) -> dict:
        """Loss, SI-SDR of input and output, the improvement and its decay, averaged over the recordings."""
        sdr_in, sdr_out = sums.pop("sdr_in") / count, sums.pop("sdr_out") / count
        decay = sums.pop("decay") / count
        return {**{k: v / count for k, v in sums.items()}, "sisdr": sdr_out, "sisdr_improvement": sdr_out - sdr_in,
                "sisdr_input": sdr_in, "sisdr_decay": decay}

    def preview(self) -> None:
        """Spectrograms of the first held-out mixtures before and after, on the same dB scale."""
        clips = self.val[:PREVIEW_CLIPS]
        outputs = self.denoise_clips([m.noisy for m in clips])
        before, after = [], []
        for m, y in zip(clips, outputs):
            top = float(spectrogram_db(m.noisy[0], 128, 256).max())
            before.append(spectrogram_image(m.noisy[0], top_db=top))
            after.append(spectrogram_image(y[0], top_db=top))
        self.on_event({"type": "preview", "epoch": self.epoch, "step": self.step,
                       "original": np.stack(before)[:, None], "reconstruction": np.stack(after)[:, None]})
