"""Flow matching with straight paths (rectified flow: Liu et al. 2022; Lipman et al. 2022): diffusion's
sample quality in few steps.

Training draws an image x, noise e and a time t in [0, 1], mixes them on the straight line
x_t = (1 - t) x + t e, and trains a small U-Net (the diffusion family's) to predict the velocity
v = e - x along it. Sampling integrates dx/dt = v(x, t) from noise at t = 1 to an image at t = 0 in
``sample_steps`` Euler steps; integrating the other way maps an image to the noise that regenerates it,
which is this family's ``encode``. Samples come from the moving average of the weights (``models.ema``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from .base import GenerativeModel
from .diffusion import UNet, UNetSettings
from .ema import AveragedSettings
from .family import Capabilities, Family, ImageSettings, setting

TIME_SCALE = 1000.0  # t in [0, 1] reaches the U-Net's time embedding as t x this (diffusion's step numbers)


@dataclass(frozen=True)
class FlowMatchingSettings(UNetSettings, AveragedSettings, ImageSettings):
    sample_steps: int = setting(20, "Euler steps when sampling, encoding and decoding (changeable after training)",
                                low=1, high=100_000, label="Sampling steps")


class FlowMatching(GenerativeModel):
    """Images in [-1, 1] inside (no data statistics needed); the code is the noise image, flattened."""
    Settings = FlowMatchingSettings
    capabilities = Capabilities(encodes=True, encodes_slowly=True, decodes=True, samples=True, iterative=True)

    def __init__(self, settings: FlowMatchingSettings | None = None, **values):
        super().__init__(settings, **values)
        self.latent_dim = math.prod(self.image_shape)
        self.sample_steps = self.settings.sample_steps
        self.net = UNet(self.image_shape[0], list(self.settings.channels), self.settings.patch)
        self.keep_average("net")

    def _velocity(self, net: nn.Module, x: torch.Tensor, t: float) -> torch.Tensor:
        return net(x, torch.full((len(x),), t * TIME_SCALE, device=x.device))

    def loss(self, x):
        x = x * 2 - 1
        t = torch.rand(len(x), device=x.device)
        noise = torch.randn_like(x)
        tt = t.view(-1, 1, 1, 1)
        mse = (self.net((1 - tt) * x + tt * noise, t * TIME_SCALE) - (noise - x)).pow(2).mean()
        return {"velocity_mse": mse, "total": mse}

    def _times(self, steps: int | None) -> list[float]:
        n = max(1, int(steps or self.sample_steps))
        return [1 - i / n for i in range(n + 1)]  # 1 (noise) ... 0 (image)

    @torch.no_grad()
    def denoise_steps(self, z, steps=None, generator=None) -> Iterator[tuple[float, torch.Tensor]]:
        """Euler steps from noise ``z`` (an ordinary differential equation: no fresh noise, so ``generator`` is not
        used): yields (t, the predicted clean images x_t - t v, in [0, 1]) after each."""
        net, x = self.sampling("net"), z.view(-1, *self.image_shape)
        times = self._times(steps)
        for t_from, t_to in zip(times[:-1], times[1:]):
            v = self._velocity(net, x, t_from)
            x = x + (t_to - t_from) * v
            yield round(t_to, 4), ((x if t_to == 0 else x - t_to * v).clamp(-1, 1) + 1) / 2

    def decode(self, z):
        for _, images in self.denoise_steps(z):
            pass
        return images

    @torch.no_grad()
    def encode(self, x):
        """The noise (flattened) that ``decode`` integrates back to (about) ``x``: the flow run backwards."""
        net, h = self.sampling("net"), x * 2 - 1
        times = self._times(None)[::-1]
        for t_from, t_to in zip(times[:-1], times[1:]):
            h = h + (t_to - t_from) * self._velocity(net, h, t_from)
        return h.flatten(1)


FLOW_MATCHING = Family("flow-matching", FlowMatching, "Flow matching (rectified flow): straight paths from noise, "
                       "few sampling steps", lr=2e-3, tiny={"channels": [16, 32], "sample_steps": 5},
                       kind="Flow matching")
