"""Denoising diffusion (DDPM, Ho et al. 2020) with DDIM sampling and inversion (Song et al. 2021).

Training noises an image to a random step t of a linear beta schedule, x_t = sqrt(a_t) x + sqrt(1 - a_t) e,
and trains a small U-Net to predict e. Sampling runs the deterministic DDIM update over a chosen number
of steps from pure noise to an image; running the same update the other way (DDIM inversion) maps an
image to the noise that regenerates it, which is this family's ``encode``: maps, sliders and morphing
work on those noise codes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .base import GenerativeModel
from .family import Capabilities, Family, ImageSettings, setting
from .layers import center_crop, pad_to_multiple

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t, t) -> predicted noise


class SinusoidalEmbedding(nn.Module):
    """The transformer's sin/cos position code of the integer time step."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
        args = t.float()[:, None] * freqs[None]
        return torch.cat([args.sin(), args.cos()], dim=1)


class GaussianDiffusion(nn.Module):
    """The noise schedule and the DDPM loss / DDIM updates, for tensors of any shape (images or codes)."""

    def __init__(self, timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02):
        super().__init__()
        self.timesteps = int(timesteps)
        betas = torch.linspace(beta_start, beta_end, self.timesteps, dtype=torch.float64)
        self.register_buffer("alpha_bar", torch.cumprod(1 - betas, 0).float(), persistent=False)

    def _a(self, t: int | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """alpha_bar at step t (t = -1 is the clean image, alpha_bar = 1), shaped to broadcast over ``like``."""
        if isinstance(t, int):
            return torch.ones((), device=like.device) if t < 0 else self.alpha_bar[t]
        return self.alpha_bar[t].view(-1, *([1] * (like.ndim - 1)))

    def loss(self, net: Denoiser, x0: torch.Tensor) -> torch.Tensor:
        """Mean squared error of the predicted noise at uniformly drawn steps."""
        t = torch.randint(0, self.timesteps, (len(x0),), device=x0.device)
        noise = torch.randn_like(x0)
        a = self._a(t, x0)
        return F.mse_loss(net(a.sqrt() * x0 + (1 - a).sqrt() * noise, t), noise)

    def schedule(self, steps: int) -> list[int]:
        """The DDIM time steps, from -1 (clean) to T - 1 (pure noise), ``steps`` jumps in all."""
        steps = max(1, min(int(steps), self.timesteps))
        return [-1, *(round((i + 1) * self.timesteps / steps) - 1 for i in range(steps))]

    @staticmethod
    def _jump(x, eps, a_from, a_to, clip: float | None):
        x0 = (x - (1 - a_from).sqrt() * eps) / a_from.sqrt()
        if clip is not None and float(a_from) < 1:
            x0 = x0.clamp(-clip, clip)
            eps = (x - a_from.sqrt() * x0) / (1 - a_from).sqrt()
        return a_to.sqrt() * x0 + (1 - a_to).sqrt() * eps, x0

    def _net(self, net: Denoiser, x: torch.Tensor, t: int) -> torch.Tensor:
        return net(x, torch.full((len(x),), max(t, 0), device=x.device, dtype=torch.long))

    @torch.no_grad()
    def denoise_steps(self, net: Denoiser, x: torch.Tensor, steps: int,
                      clip: float | None = None) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """DDIM from noise ``x`` (at step T - 1): yields (t, x_t, predicted clean x) after each jump."""
        ts = self.schedule(steps)
        for t_from, t_to in zip(ts[:0:-1], ts[-2::-1]):
            x, x0 = self._jump(x, self._net(net, x, t_from), self._a(t_from, x), self._a(t_to, x), clip)
            yield t_to, x, x0

    def sample(self, net: Denoiser, x: torch.Tensor, steps: int, clip: float | None = None) -> torch.Tensor:
        for _, x, _ in self.denoise_steps(net, x, steps, clip):
            pass
        return x

    @torch.no_grad()
    def invert(self, net: Denoiser, x: torch.Tensor, steps: int) -> torch.Tensor:
        """DDIM inversion: clean ``x`` -> the noise at step T - 1 that DDIM maps back to (about) ``x``."""
        ts = self.schedule(steps)
        for t_from, t_to in zip(ts[:-1], ts[1:]):
            x, _ = self._jump(x, self._net(net, x, t_from), self._a(t_from, x), self._a(t_to, x), None)
        return x


def _groups(channels: int) -> int:
    return 8 if channels % 8 == 0 else 1


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, tdim: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(_groups(cin), cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(tdim, cout)
        self.norm2, self.conv2 = nn.GroupNorm(_groups(cout), cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x))) + self.time(temb)[:, :, None, None]
        return self.conv2(F.silu(self.norm2(h))) + self.skip(x)


class UNet(nn.Module):
    """A small U-Net: one residual block per resolution, strided-conv down, nearest-neighbour up, skips."""

    def __init__(self, image_channels: int, channels: list[int]):
        super().__init__()
        tdim = 4 * channels[0]
        self.multiple = 2 ** (len(channels) - 1)
        self.time = nn.Sequential(SinusoidalEmbedding(channels[0]), nn.Linear(channels[0], tdim), nn.SiLU(),
                                  nn.Linear(tdim, tdim))
        self.inp = nn.Conv2d(image_channels, channels[0], 3, padding=1)
        last = len(channels) - 1
        self.down, self.up = nn.ModuleList(), nn.ModuleList()
        c = channels[0]
        for i, cout in enumerate(channels):
            self.down.append(nn.ModuleList([ResBlock(c, cout, tdim),
                                            nn.Conv2d(cout, cout, 3, 2, 1) if i < last else nn.Identity()]))
            c = cout
        self.mid = ResBlock(c, c, tdim)
        for i, cout in reversed(list(enumerate(channels))):
            up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cout, cout, 3, padding=1))
            self.up.append(nn.ModuleList([ResBlock(c + cout, cout, tdim), up if i > 0 else nn.Identity()]))
            c = cout
        out = nn.Conv2d(c, image_channels, 3, padding=1)
        nn.init.zeros_(out.weight)
        nn.init.zeros_(out.bias)
        self.out = nn.Sequential(nn.GroupNorm(_groups(c), c), nn.SiLU(), out)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        temb = self.time(t)
        x = self.inp(pad_to_multiple(x, self.multiple))
        skips = []
        for block, down in self.down:
            x = block(x, temb)
            skips.append(x)
            x = down(x)
        x = self.mid(x, temb)
        for block, up in self.up:
            x = up(block(torch.cat([x, skips.pop()], dim=1), temb))
        return center_crop(self.out(x), h, w)


@dataclass(frozen=True)
class DiffusionSettings(ImageSettings):
    """The settings of every diffusion family."""
    timesteps: int = setting(1000, "Noise levels of the training schedule", low=2, high=100_000)
    sample_steps: int = setting(50, "DDIM steps when sampling, encoding and decoding (changeable after training)",
                                low=1, high=100_000, label="Sampling steps")


@dataclass(frozen=True)
class ImageDiffusionSettings(DiffusionSettings):
    channels: tuple[int, ...] = setting([32, 64, 64], "U-Net widths, one per resolution, e.g. 32 64 64", low=1,
                                        high=4096)


class DiffusionFamily(GenerativeModel):
    """What the diffusion families share: the noise schedule, and the number of DDIM steps that sampling,
    decoding and encoding take (``sample_steps``, changeable after loading)."""
    capabilities = Capabilities(encodes=True, encodes_slowly=True, decodes=True, samples=True, iterative=True)

    def __init__(self, settings: DiffusionSettings | None = None, **values):
        super().__init__(settings, **values)
        self.diffusion = GaussianDiffusion(self.settings.timesteps)
        self.sample_steps = self.settings.sample_steps

    @property
    def sample_steps(self) -> int:
        return self._sample_steps

    @sample_steps.setter
    def sample_steps(self, steps: int) -> None:
        self._sample_steps = max(1, min(int(steps), self.diffusion.timesteps))


class DiffusionModel(DiffusionFamily):
    """Images in [-1, 1] inside (no data statistics needed); the code is the noise image, flattened."""
    Settings = ImageDiffusionSettings

    def __init__(self, settings: ImageDiffusionSettings | None = None, **values):
        super().__init__(settings, **values)
        self.latent_dim = math.prod(self.image_shape)
        self.net = UNet(self.image_shape[0], list(self.settings.channels))

    def loss(self, x):
        mse = self.diffusion.loss(self.net, x * 2 - 1)
        return {"noise_mse": mse, "total": mse}

    def encode(self, x):
        """DDIM inversion: the noise (flattened) that ``decode`` turns back into (about) ``x``."""
        return self.diffusion.invert(self.net, x * 2 - 1, self.sample_steps).flatten(1)

    def denoise_steps(self, z: torch.Tensor, steps: int | None = None) -> Iterator[tuple[int, torch.Tensor]]:
        x = z.view(-1, *self.image_shape)
        for t, _, x0 in self.diffusion.denoise_steps(self.net, x, steps or self.sample_steps, clip=1.0):
            yield t, ((x0 + 1) / 2).clamp(0, 1)

    def decode(self, z):
        x = self.diffusion.sample(self.net, z.view(-1, *self.image_shape), self.sample_steps, clip=1.0)
        return ((x + 1) / 2).clamp(0, 1)


DIFFUSION = Family("diffusion", DiffusionModel, "Diffusion (DDPM, DDIM sampling) with a small U-Net",
                   tiny={"channels": [16, 32], "sample_steps": 10}, kind="Diffusion")
