"""Learning-rate schedules, set once per epoch (as torchvision's training recipes step theirs).

Each optimiser group keeps the rate it started at (``initial_lr``, torch's name; it is saved with the
optimiser's state, so a resumed run goes on from the same start); an epoch trains at a share of it. Per epoch,
not per step, because a CUDA graph holds the rate its step was captured with: the step runner captures again
when the rate changes (``StepRunner.forget_graph``), which per epoch costs nothing that shows.
"""
from __future__ import annotations

import math

import torch

SCHEDULES = ("constant", "cosine")


def rate_share(schedule: str, epoch: int, epochs: int) -> float:
    """The share of the starting rate that ``epoch`` (from 0) of ``epochs`` trains at: 1 throughout for
    ``constant``; for ``cosine`` (Loshchilov & Hutter's annealing, no restarts) 1 at the first epoch, falling
    along half a cosine towards 0 after the last."""
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(epoch, epochs) / max(1, epochs)))
    return 1.0


def set_rate_share(optimizers: dict[str, torch.optim.Optimizer], share: float) -> bool:
    """Sets every group's rate to ``share`` of its starting rate; True if a rate changed."""
    changed = False
    for opt in optimizers.values():
        for group in opt.param_groups:
            start = group.setdefault("initial_lr", float(group["lr"]))
            if group["lr"] != start * share:
                group["lr"], changed = start * share, True
    return changed
