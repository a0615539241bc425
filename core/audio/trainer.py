"""Training loop of the audio denoiser: same events as ``core.trainer.Trainer``, so the same worker,
bridge and training panel show it.

Events: ``metrics`` rows (``step``, ``epoch``, ``split``, ``loss``, one key per loss component, plus
``sisdr``: SI-SDR of the denoised output in dB and ``sisdr_improvement``: its gain over the noisy
input; validation rows also carry ``sisdr_input`` and ``sisdr_decay``: the gain over the last third of
the held-out recordings less that over the first), ``preview`` (spectrogram images of held-out
mixtures: ``original`` noisy, ``reconstruction`` denoised), ``state`` and ``checkpoint``. An epoch is
as many batches as hold as much speech as the training files.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from models import build_model

from ..device import pick_device, training_threads
from ..errors import CheckpointError, TrainingError
from ..metrics import MetricsLog
from ..trainer import Control, TrainConfig, TrainerBase
from .dataset import MixConfig, SpeechNoiseData
from .evaluate import thirds_gain
from .metrics import si_sdr
from .spectrum import spectrogram_db, spectrogram_image

AUDIO_TRAIN_DEFAULTS = {"epochs": 40, "batch_size": 16, "lr": 2e-3}
PREVIEW_CLIPS = 4
VAL_BATCH = 16


@dataclass
class AudioRun:
    """A denoiser training run: model spec, speech and noise folders, mixing, where to write."""
    model_name: str
    model_config: dict
    speech_dir: Path
    noise_dir: Path | None = None
    mix: MixConfig = field(default_factory=MixConfig)
    config: TrainConfig = field(default_factory=lambda: TrainConfig(**AUDIO_TRAIN_DEFAULTS))
    out_dir: Path | None = None
    resume: dict | None = None  # a checkpoint payload to continue from

    @property
    def dataset_source(self) -> str:
        return str(self.speech_dir)

    def build_trainer(self, on_event: Callable[[dict], None], control: Control | None = None) -> "AudioTrainer":
        return AudioTrainer(self, on_event, control)

    @classmethod
    def from_checkpoint(cls, payload: dict, out_dir: Path | None, **config) -> "AudioRun":
        """Continue the run a checkpoint came from; ``config`` overrides its TrainConfig (e.g. more epochs)."""
        state = payload.get("train_state") or {}
        if "speech_dir" not in state:
            raise CheckpointError("the checkpoint does not say which speech folder it was trained on")
        noise = state.get("noise_dir")
        return cls(payload["model"]["name"], payload["model"]["config"], Path(state["speech_dir"]),
                   Path(noise) if noise else None, MixConfig.from_dict(state.get("mix", {})),
                   TrainConfig.from_dict({**state.get("config", {}), **config}), out_dir, resume=payload)


def _pad_stack(waves: list[np.ndarray]) -> torch.Tensor:
    """(C, T_i) arrays -> zero-padded (N, C, max T) tensor."""
    out = np.zeros((len(waves), waves[0].shape[0], max(w.shape[-1] for w in waves)), dtype=np.float32)
    for i, w in enumerate(waves):
        out[i, :, :w.shape[-1]] = w
    return torch.from_numpy(out)


class AudioTrainer(TrainerBase):
    def __init__(self, run: AudioRun, on_event: Callable[[dict], None] = lambda e: None,
                 control: Control | None = None):
        self.run, self.cfg, self.on_event = run, run.config, on_event
        self.control = control or Control()
        self.device = pick_device(self.cfg.device)
        torch.manual_seed(self.cfg.seed)
        self.model = build_model(run.model_name, run.model_config).to(self.device)
        if getattr(self.model, "family", None) != "audio":
            raise TrainingError(f"{run.model_name} is not an audio model")
        self.data = SpeechNoiseData.load(run.speech_dir, run.noise_dir, self.model.sample_rate, self.model.channels,
                                         run.mix, self.cfg.seed)
        self.val = self.data.validation(self.cfg.seed)
        self.optimizers = self.model.configure_optimizers(self.cfg.lr)
        self.history: list[dict] = []
        self.epoch = self.step = self.epoch_step = 0
        if run.resume:
            self._restore(run.resume)
        self.log: MetricsLog | None = None
        self.steps_per_epoch = self.data.batches_per_epoch(self.cfg.batch_size)

    # --- checkpoints ----------------------------------------------------------------------
    def _train_state_extra(self) -> dict:
        run = self.run
        return {"speech_dir": str(run.speech_dir), "noise_dir": str(run.noise_dir) if run.noise_dir else None,
                "mix": run.mix.to_dict(), "val_files": self.data.val_files}

    # --- evaluation -----------------------------------------------------------------------
    @torch.inference_mode()
    def denoise_clips(self, noisy: list[np.ndarray]) -> list[np.ndarray]:
        """Model outputs for (C, T_i) clips, batched with zero padding."""
        self.model.eval()
        out = []
        for i in range(0, len(noisy), VAL_BATCH):
            chunk = noisy[i:i + VAL_BATCH]
            y = self.model(_pad_stack(chunk).to(self.device)).cpu().numpy()
            out += [y[j, :, :w.shape[-1]] for j, w in enumerate(chunk)]
        self.model.train()
        return out

    def validate(self) -> dict:
        """Loss, SI-SDR of input and output, the improvement and its decay (last third less first),
        averaged over the held-out recordings."""
        outputs = self.denoise_clips([m.noisy for m in self.val])
        sums: dict[str, float] = {}
        sdr_in, sdr_out, decay = [], [], []
        for m, y in zip(self.val, outputs):
            for k, v in self.model.criterion(torch.from_numpy(y), torch.from_numpy(m.clean)).items():
                sums[k] = sums.get(k, 0.0) + float(v)
            sdr_in.append(float(si_sdr(m.noisy, m.clean).mean()))
            sdr_out.append(float(si_sdr(y, m.clean).mean()))
            first, last = thirds_gain(y, m.noisy, m.clean)
            decay.append(last - first)
        n = len(self.val)
        return {**{k: v / n for k, v in sums.items()}, "sisdr": float(np.mean(sdr_out)),
                "sisdr_improvement": float(np.mean(sdr_out) - np.mean(sdr_in)), "sisdr_input": float(np.mean(sdr_in)),
                "sisdr_decay": float(np.mean(decay))}

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

    @torch.inference_mode()
    def _batch_sisdr(self, noisy: torch.Tensor, clean: torch.Tensor) -> tuple[float, float]:
        self.model.eval()
        out = si_sdr(self.model(noisy), clean)
        self.model.train()
        return float(out.mean()), float((out - si_sdr(noisy, clean)).mean())

    # --- the loop -------------------------------------------------------------------------
    def train(self) -> str:
        """Train to ``config.epochs``; returns ``finished`` or ``stopped``; ``TrainingError`` on a NaN loss."""
        cfg, spe = self.cfg, self.steps_per_epoch
        total_steps = max(1, cfg.epochs * spe)
        start_step, t0 = self.step, time.perf_counter()
        last_preview = last_save = t0
        self.log = MetricsLog(self.run.out_dir / "metrics.jsonl", self.history) if self.run.out_dir else None
        threads = torch.get_num_threads()
        torch.set_num_threads(training_threads())
        self.model.train()
        running = {"type": "state", "state": "running", "device": str(self.device)}
        self.on_event(running)
        try:
            while self.epoch < cfg.epochs:
                rng = np.random.default_rng([cfg.seed, self.epoch, self.epoch_step])
                sums, seen = None, 0
                for i in range(self.epoch_step, spe):
                    obeyed = self._obey_control(running)
                    if obeyed == "stopped":
                        return obeyed
                    if obeyed == "resumed":  # the rate and ETA count from here
                        t0, start_step = time.perf_counter(), self.step
                    noisy, clean = (t.to(self.device) for t in self.data.batch(cfg.batch_size, rng))
                    losses = self.model.train_step(noisy, clean, self.optimizers)
                    weighted = torch.stack([v.float() for v in losses.values()]) * len(noisy)
                    sums = weighted if sums is None else sums + weighted
                    seen += len(noisy)
                    self.step, self.epoch_step = self.step + 1, i + 1
                    if self.step % cfg.log_every == 0 or i == spe - 1:
                        row = dict(zip(losses, (sums / seen).tolist()))
                        self._check_finite(row["total"], f"at step {self.step} (epoch {self.epoch + 1})")
                        sdr, gain = self._batch_sisdr(noisy, clean)
                        elapsed, done = time.perf_counter() - t0, max(1, self.step - start_step)
                        self._emit_metrics({
                            "step": self.step, "epoch": self.epoch + (i + 1) / spe, "split": "train",
                            "loss": row.pop("total"), "r2": None, **row, "sisdr": sdr, "sisdr_improvement": gain,
                            "samples_per_s": done * cfg.batch_size / elapsed, "progress": self.step / total_steps,
                            "eta_s": elapsed / done * max(0, total_steps - self.step), "time": time.time()})
                        sums, seen = None, 0
                        if time.perf_counter() - last_preview > cfg.preview_interval_s:
                            self.preview()
                            last_preview = time.perf_counter()
                self.epoch, self.epoch_step = self.epoch + 1, 0
                last_save = self._end_epoch(self.validate(), "on the held-out mixtures", total_steps, last_save)
            self.preview()
            self.on_event({"type": "state", "state": "finished"})
            return "finished"
        finally:
            torch.set_num_threads(threads)
            if self.log:
                self.log.close()
