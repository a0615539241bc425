"""The batch and learning rate chosen for throughput (``TrainConfig.auto_batch``), a part of
``core.train.loop.TrainerBase``."""
from __future__ import annotations

import math

import torch

from . import distributed
from .fast_step import step_seconds, throughput_batch

#: the largest batch ``auto_batch`` tries (and never one that leaves an epoch fewer than 8 steps)
MAX_AUTO_BATCH = 4096


class BatchChoice:
    """``auto_batch`` of a ``TrainerBase``."""

    def _choose_batch(self) -> str:
        """``auto_batch`` on a CUDA device: the batch for throughput (``fast_step.throughput_batch``, timed on
        a copy of the model), the learning rate scaled by the square root of the batch's growth. The choice
        becomes the run's settings (a resumed run keeps it); a line that says what was chosen."""
        cfg = self.cfg
        cfg.auto_batch = False
        if self.device.type != "cuda":
            return "the batch is chosen for throughput on CUDA GPUs only"
        start, lr = cfg.batch_size, cfg.lr
        limit = min(MAX_AUTO_BATCH, max(start, self.steps_per_epoch() * start // 8))
        batch = self.batch(self.epoch, 0)
        chosen = throughput_batch(lambda size: step_seconds(self.model, batch, size, lr, self.device,
                                                            **self._runner_options()), start, limit)
        chosen = distributed.agree_min(chosen, self.ranks)
        torch.cuda.empty_cache()  # the trial batches' memory
        scale = math.sqrt(chosen / start)
        cfg.batch_size, cfg.lr = chosen, lr * scale
        for opt in self.optimizers.values():  # (built with the old rate: they train at the one reported)
            for group in opt.param_groups:
                group["lr"] *= scale
        return f"batch {chosen} chosen for throughput, learning rate {cfg.lr:.3g} (x{scale:.2f})"
