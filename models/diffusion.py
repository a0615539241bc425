"""Denoising diffusion (DDPM, Ho et al. 2020) with DDIM sampling and inversion (Song et al. 2021).

Training noises an image to a random step t of a noise schedule, x_t = sqrt(a_t) x + sqrt(1 - a_t) e, and
trains a small U-Net to undo it. By default the schedule is the cosine one (Nichol & Dhariwal 2021), the
network predicts v = sqrt(a_t) e - sqrt(1 - a_t) x (Salimans & Ho 2022) and the loss weights each step by
its signal-to-noise ratio, capped (min-SNR-5, Hang et al. 2023): the choices that make small models learn
fast; DDPM's linear schedule and noise prediction remain settings. Sampling runs the deterministic DDIM update
over a chosen number of steps from pure noise to an image; running the same update the other way (DDIM
inversion) maps an image to the noise that regenerates it, which is this family's ``encode``: maps, sliders
and morphing work on those noise codes. Samples come from the moving average of the weights (``models.ema``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator, Literal

import torch
import torch.nn.functional as F
from torch import nn

from .base import GenerativeModel
from .ema import AveragedSettings
from .family import Capabilities, Family, ImageSettings, setting
from .layers import center_crop, pad_to_multiple

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t, t) -> predicted noise or v


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


def alpha_bars(timesteps: int, schedule: str) -> torch.Tensor:
    """The share of signal variance a_t at each step: DDPM's linear betas, or the cosine schedule."""
    if schedule == "linear":
        betas = torch.linspace(1e-4, 0.02, timesteps, dtype=torch.float64)
        return torch.cumprod(1 - betas, 0).float()
    s = 0.008
    f = torch.cos((torch.arange(timesteps + 1, dtype=torch.float64) / timesteps + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, 0).float()


class GaussianDiffusion(nn.Module):
    """The noise schedule, the training loss and the DDIM updates, for tensors of any shape (images or codes).

    ``prediction``: what the network predicts, the noise (``eps``) or v; ``snr_gamma``: the cap of the min-SNR
    loss weight (0: every step weighs the same in the predicted quantity)."""

    def __init__(self, timesteps: int = 1000, schedule: str = "cosine", prediction: str = "v",
                 snr_gamma: float = 5.0):
        super().__init__()
        self.timesteps, self.prediction, self.snr_gamma = int(timesteps), prediction, float(snr_gamma)
        self.register_buffer("alpha_bar", alpha_bars(self.timesteps, schedule), persistent=False)

    def _a(self, t: int | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """alpha_bar at step t (t = -1 is the clean image, alpha_bar = 1), shaped to broadcast over ``like``."""
        if isinstance(t, int):
            return torch.ones((), device=like.device) if t < 0 else self.alpha_bar[t]
        return self.alpha_bar[t].view(-1, *([1] * (like.ndim - 1)))

    def loss(self, net: Denoiser, x0: torch.Tensor) -> torch.Tensor:
        """The weighted mean squared error of the network's prediction at uniformly drawn steps."""
        t = torch.randint(0, self.timesteps, (len(x0),), device=x0.device)
        noise = torch.randn_like(x0)
        a = self._a(t, x0)
        out = net(a.sqrt() * x0 + (1 - a).sqrt() * noise, t)
        target = noise if self.prediction == "eps" else a.sqrt() * noise - (1 - a).sqrt() * x0
        error = (out - target).pow(2).flatten(1).mean(1)
        if self.snr_gamma > 0:
            snr = (a / (1 - a)).flatten()
            # min(SNR, gamma) in x0-space, expressed in the predicted quantity's units
            error = error * snr.clamp(max=self.snr_gamma) / (snr if self.prediction == "eps" else snr + 1)
        return error.mean()

    def predicted(self, x: torch.Tensor, out: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(clean x, noise) that the network's output ``out`` at x_t = ``x`` with alpha_bar ``a`` implies."""
        if self.prediction == "eps":
            return (x - (1 - a).sqrt() * out) / a.sqrt(), out
        return a.sqrt() * x - (1 - a).sqrt() * out, (1 - a).sqrt() * x + a.sqrt() * out

    def schedule(self, steps: int) -> list[int]:
        """The DDIM time steps, from -1 (clean) to T - 1 (pure noise), ``steps`` jumps in all."""
        steps = max(1, min(int(steps), self.timesteps))
        return [-1, *(round((i + 1) * self.timesteps / steps) - 1 for i in range(steps))]

    def _jump(self, x, out, a_from, a_to, clip: float | None, eta: float = 0.0,
              generator: torch.Generator | None = None):
        """One DDIM update from ``a_from`` to ``a_to``; ``eta`` > 0 swaps that share of its predicted noise for
        fresh noise (DDIM's sigma; 1: DDPM's ancestral step)."""
        x0, eps = self.predicted(x, out, a_from)
        if clip is not None and float(a_from) < 1:
            x0 = x0.clamp(-clip, clip)
            eps = (x - a_from.sqrt() * x0) / (1 - a_from).sqrt()
        if eta <= 0 or float(a_to) >= 1:
            return a_to.sqrt() * x0 + (1 - a_to).sqrt() * eps, x0
        sigma = eta * ((1 - a_to) / (1 - a_from) * (1 - a_from / a_to)).sqrt()
        fresh = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        kept = (1 - a_to - sigma ** 2).clamp(min=0)  # (from pure noise, 0 within rounding: may round below)
        return a_to.sqrt() * x0 + kept.sqrt() * eps + sigma * fresh, x0

    def _net(self, net: Denoiser, x: torch.Tensor, t: int) -> torch.Tensor:
        return net(x, torch.full((len(x),), max(t, 0), device=x.device, dtype=torch.long))

    @torch.no_grad()
    def denoise_steps(self, net: Denoiser, x: torch.Tensor, steps: int, clip: float | None = None, eta: float = 0.0,
                      generator: torch.Generator | None = None) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """DDIM from noise ``x`` (at step T - 1): yields (t, x_t, predicted clean x) after each jump."""
        ts = self.schedule(steps)
        for t_from, t_to in zip(ts[:0:-1], ts[-2::-1]):
            x, x0 = self._jump(x, self._net(net, x, t_from), self._a(t_from, x), self._a(t_to, x), clip, eta,
                               generator)
            yield t_to, x, x0

    def sample(self, net: Denoiser, x: torch.Tensor, steps: int, clip: float | None = None, eta: float = 0.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        for _, x, _ in self.denoise_steps(net, x, steps, clip, eta, generator):
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
    """A small U-Net: one residual block per resolution, strided-conv down, nearest-neighbour up, skips.
    ``patch`` > 1 folds patch x patch pixels into channels first (pixel unshuffle) and back at the end: the
    network works at a lower resolution, patch^2 times cheaper."""

    def __init__(self, image_channels: int, channels: list[int], patch: int = 1):
        super().__init__()
        tdim = 4 * channels[0]
        self.patch = patch
        self.multiple = patch * 2 ** (len(channels) - 1)
        self.time = nn.Sequential(SinusoidalEmbedding(channels[0]), nn.Linear(channels[0], tdim), nn.SiLU(),
                                  nn.Linear(tdim, tdim))
        image_channels *= patch * patch
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
        x = self.inp(F.pixel_unshuffle(pad_to_multiple(x, self.multiple), self.patch))
        skips = []
        for block, down in self.down:
            x = block(x, temb)
            skips.append(x)
            x = down(x)
        x = self.mid(x, temb)
        for block, up in self.up:
            x = up(block(torch.cat([x, skips.pop()], dim=1), temb))
        return center_crop(F.pixel_shuffle(self.out(x), self.patch), h, w)


@dataclass(frozen=True)
class DiffusionSettings(AveragedSettings, ImageSettings):
    """The settings of every diffusion family."""
    timesteps: int = setting(1000, "Noise levels of the training schedule", low=2, high=100_000)
    sample_steps: int = setting(50, "DDIM steps when sampling, encoding and decoding (changeable after training)",
                                low=1, high=100_000, label="Sampling steps")
    schedule: Literal["cosine", "linear"] = setting("cosine", "Noise schedule: cosine (improved DDPM) or linear "
                                                    "(DDPM)", legacy="linear", label="Noise schedule")
    prediction: Literal["v", "eps"] = setting("v", "What the network predicts: v (velocity) or eps (the noise)",
                                              legacy="eps")
    snr_gamma: float = setting(5.0, "Cap of the min-SNR loss weight (0: unweighted)", low=0.0, high=1e4,
                               legacy=0.0, label="Min-SNR γ")
    eta: float = setting(0.0, "Fresh noise in each step of drawing a sample, DDIM's η: 0 deterministic (as decoding "
                              "a code always is), 1 DDPM's ancestral sampling", low=0.0, high=1.0, legacy=0.0,
                         label="Sampling η")


@dataclass(frozen=True)
class UNetSettings:
    """The settings of the U-Net of the pixel-space families (diffusion, flow matching)."""
    channels: tuple[int, ...] = setting([32, 64, 64], "U-Net widths, one per resolution, e.g. 32 64 64", low=1,
                                        high=4096)
    patch: int = setting(2, "Pixels per side the U-Net folds into channels first (2: it works at half the "
                            "resolution, 4x cheaper)", low=1, high=16, legacy=1)


@dataclass(frozen=True)
class ImageDiffusionSettings(UNetSettings, DiffusionSettings):
    pass


class DiffusionFamily(GenerativeModel):
    """What the diffusion families share: the noise schedule, and the number of DDIM steps that sampling,
    decoding and encoding take (``sample_steps``, changeable after loading)."""
    capabilities = Capabilities(encodes=True, encodes_slowly=True, decodes=True, samples=True, iterative=True)

    def __init__(self, settings: DiffusionSettings | None = None, **values):
        super().__init__(settings, **values)
        s = self.settings
        self.diffusion = GaussianDiffusion(s.timesteps, s.schedule, s.prediction, s.snr_gamma)
        self.sample_steps = self.settings.sample_steps

    @property
    def sample_steps(self) -> int:
        return self._sample_steps

    @sample_steps.setter
    def sample_steps(self, steps: int) -> None:
        self._sample_steps = max(1, min(int(steps), self.diffusion.timesteps))

    def generate(self, z: torch.Tensor, eta: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """Noise codes -> images by DDIM, with ``eta`` of fresh noise (from ``generator``) in each step."""
        raise NotImplementedError

    def decode(self, z):
        return self.generate(z)

    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """Prior draws generated with the setting ``eta`` of fresh noise per step (0: decoded, deterministic)."""
        return self.generate(self.sample_latents(n, temperature, generator), self.settings.eta, generator)


class DiffusionModel(DiffusionFamily):
    """Images in [-1, 1] inside (no data statistics needed); the code is the noise image, flattened."""
    Settings = ImageDiffusionSettings

    def __init__(self, settings: ImageDiffusionSettings | None = None, **values):
        super().__init__(settings, **values)
        self.latent_dim = math.prod(self.image_shape)
        self.net = UNet(self.image_shape[0], list(self.settings.channels), self.settings.patch)
        self.keep_average("net")

    def loss(self, x):
        mse = self.diffusion.loss(self.net, x * 2 - 1)
        return {"noise_mse": mse, "total": mse}

    def encode(self, x):
        """DDIM inversion: the noise (flattened) that ``decode`` turns back into (about) ``x``."""
        return self.diffusion.invert(self.sampling("net"), x * 2 - 1, self.sample_steps).flatten(1)

    def denoise_steps(self, z, steps=None, generator=None):
        x, eta = z.view(-1, *self.image_shape), self.settings.eta if generator is not None else 0.0
        for t, _, x0 in self.diffusion.denoise_steps(self.sampling("net"), x, steps or self.sample_steps, clip=1.0,
                                                     eta=eta, generator=generator):
            yield t, ((x0 + 1) / 2).clamp(0, 1)

    def generate(self, z, eta=0.0, generator=None):
        x = self.diffusion.sample(self.sampling("net"), z.view(-1, *self.image_shape), self.sample_steps, clip=1.0,
                                  eta=eta, generator=generator)
        return ((x + 1) / 2).clamp(0, 1)


#: η = 1: the fresh noise corrects a briefly trained U-Net's errors (Fréchet 5.0 against 6.4 with η = 0 after 120 CPU
#: s on MNIST, bench/sampling.py); latent diffusion's codes do better without (2.5 against 2.7)
DIFFUSION = Family("diffusion", DiffusionModel, "Diffusion (DDPM, DDIM sampling) with a small U-Net",
                   defaults={"eta": 1.0}, tiny={"channels": [16, 32], "sample_steps": 10}, kind="Diffusion")
