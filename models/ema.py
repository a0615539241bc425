"""An exponential moving average of the weights that draw a model's samples (Polyak averaging, as in DDPM,
BigGAN and StyleGAN): the average of the last few hundred steps samples smoother and better images than the
last step's weights, at no cost to training.

A family names the sub-networks that draw its samples (``GenerativeModel.keep_average``); the model keeps an
average of each (``ema.copies.<name>.*`` in its state dict, so checkpoints keep it), updates it after every
optimisation step and samples, decodes and encodes with it in eval mode. The decay warms up (n / (n + 9) after
n updates, capped at ``ema_decay``), so that a model trained for seconds already draws with a useful average.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from .family import setting


@dataclass(frozen=True)
class AveragedSettings:
    """The setting of families that sample with averaged weights."""
    ema_decay: float = setting(0.999, "Decay of the moving average of the weights that draws samples (0: the "
                                      "last step's weights)", low=0.0, high=0.99999, label="EMA decay")


class WeightAverage(nn.Module):
    """Averaged copies of named sub-networks; their buffers (BatchNorm statistics) follow the live ones."""

    def __init__(self, modules: dict[str, nn.Module], decay: float):
        super().__init__()
        self.decay = float(decay)
        self.copies = nn.ModuleDict({name: copy.deepcopy(m).requires_grad_(False) for name, m in modules.items()})
        self.register_buffer("updates", torch.zeros(()))

    @torch.no_grad()
    def update(self, live: dict[str, nn.Module]) -> None:
        """Move each average towards its live network (on the device, no host sync: CUDA graphs can hold it)."""
        self.updates += 1
        keep = torch.clamp(self.updates / (self.updates + 9), max=self.decay)
        for name, average in self.copies.items():
            mine, theirs = list(average.parameters()), list(live[name].parameters())
            if mine:  # (a sub-network may have none: a flow without learned priors)
                torch._foreach_mul_(mine, keep)
                torch._foreach_add_(mine, torch._foreach_mul(theirs, 1 - keep))
            for a, b in zip(average.buffers(), live[name].buffers()):
                a.copy_(b)

    @staticmethod
    def complete(state: dict, own_keys) -> dict:
        """A state dict saved without averages (before they existed) with each average started at its live
        weights."""
        missing = [k for k in own_keys if k.startswith("ema.") and k not in state]
        if not missing:
            return state
        state = dict(state)
        for key in missing:
            live = key.removeprefix("ema.copies.")
            if live in state:
                state[key] = state[live]
            elif key == "ema.updates":
                state[key] = torch.zeros(())
        return state
