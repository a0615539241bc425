"""How a run's steps run, a part of ``core.train.loop.TrainerBase``: the step runner for the device
(``core.train.fast_step``: channels-last, CUDA graphs, autocast), the data-parallel set-up of a distributed
run, and the ``setup`` event that tells how the steps run."""
from __future__ import annotations

import torch

from . import distributed
from .fast_step import StepRunner, channels_last_works, has_convolutions, tune_optimizers


class StepSetup:
    """The step runner of a ``TrainerBase``."""

    def _prepare_steps(self) -> distributed.GradientAverager | None:
        """The step runner for this device; in a distributed run, every rank on rank 0's weights and the
        gradient averaging (returned, to be removed when training ends)."""
        cuda = self.device.type == "cuda"
        tune_optimizers(self.optimizers, self.device)
        channels_last = cuda and has_convolutions(self.model) and \
            channels_last_works(self.model, self.batch(self.epoch, min(self.epoch_step, self.steps_per_epoch() - 1)))
        if channels_last:
            self.model.to(memory_format=torch.channels_last)
            tune_optimizers(self.optimizers, self.device)
        if cuda:
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        self.step_runner = StepRunner(self.model, self.optimizers, self.device, channels_last=channels_last,
                                      compile=self.cfg.compile, **self._runner_options())
        if self.ranks.distributed:
            if cuda:
                self.step_runner.note = "CUDA graphs are not used in distributed runs"
            distributed.replicate(self.model, self.ranks)
            torch.manual_seed(self.cfg.seed + self.ranks.rank)  # each rank its own noise
            return distributed.GradientAverager(self.model, self.ranks)
        return None

    def _tell_setup(self) -> None:
        """A ``setup`` event whenever how the steps run has changed (first: after the first logged row)."""
        runner = self.step_runner
        setup = {"type": "setup", "device": str(self.device), "world_size": self.ranks.world_size,
                 "batch_size": self.cfg.batch_size, "lr": self.cfg.lr, "batch_note": self._batch_note,
                 "precision": self.cfg.precision, "compile": self.cfg.compile,
                 "channels_last": runner.channels_last, "step_mode": runner.mode, "note": runner.note}
        if setup != self._setup_told:
            self._setup_told = setup
            self.on_event(dict(setup))

    def _runner_options(self) -> dict:
        return {"graphs": self.cfg.cuda_graphs and not self.ranks.distributed,
                "autocast": torch.bfloat16 if self.cfg.precision == "bf16" else None}
