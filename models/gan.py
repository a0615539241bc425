"""DCGAN (Radford et al. 2016) with a spectrally normalised discriminator (Miyato et al. 2018).

The generator maps z ~ N(0, I) through a linear layer to a feature map of at most 4x4 pixels and doubles
it (nearest-neighbour upsampling + 3x3 convolution, BatchNorm, ReLU: no checkerboard artefacts) up to the
image size rounded up to a multiple of 2^levels, then crops to the image. The discriminator pads images the
same way and halves them with spectrally normalised strided convolutions (LeakyReLU). Images are scaled to
[-1, 1] inside.

Losses: ``hinge`` (SNGAN) or ``ns``, the non-saturating loss of Goodfellow et al. A GAN has no encoder:
``encode`` inverts the generator by optimising z until G(z) reproduces the image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .base import GenerativeModel
from .family import Capabilities, Family, ImageSettings, setting
from .layers import center_crop, pad_to_multiple, padded_size


@dataclass(frozen=True)
class GANSettings(ImageSettings):
    latent_dim: int = setting(32, "Dimensions of the noise z the generator draws from", low=1, high=4096,
                              label="Latent size")
    channels: tuple[int, ...] = setting([64, 128, 256], "Feature widths from the finest resolution to the coarsest, "
                                                        "e.g. 64 128 256", low=1, high=4096)
    loss: Literal["hinge", "ns"] = setting("hinge", "Adversarial loss: hinge (SNGAN) or non-saturating", label="GAN loss")
    invert_steps: int = setting(100, "Optimisation steps that find the code of an image (GAN inversion)", low=1,
                                high=100_000)


def doublings(h: int, w: int) -> int:
    """How many 2x upsamplings take a feature map of at most 4x4 pixels to (at least) h x w."""
    return max(1, math.ceil(math.log2(max(h, w) / 4)))


def widths(channels: list[int], levels: int) -> list[int]:
    """Feature widths from the finest resolution (1/2) to the coarsest (1/2^levels)."""
    return [channels[min(i, len(channels) - 1)] for i in range(levels)]


class Generator(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int], latent_dim: int, channels: list[int]):
        super().__init__()
        c, self.h, self.w = image_shape
        levels = doublings(self.h, self.w)
        m = 2 ** levels
        ws = widths(channels, levels)
        self.base_shape = (ws[-1], padded_size(self.h, m) // m, padded_size(self.w, m) // m)
        self.head = nn.Sequential(nn.Linear(latent_dim, math.prod(self.base_shape)), nn.Unflatten(1, self.base_shape),
                                  nn.BatchNorm2d(ws[-1]), nn.ReLU())
        layers: list[nn.Module] = []
        for cin, cout in zip(ws[::-1], [*ws[::-1][1:], ws[0]]):
            layers += [nn.Upsample(scale_factor=2), nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                       nn.BatchNorm2d(cout), nn.ReLU()]
        layers += [nn.Conv2d(ws[0], c, 3, padding=1), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1]."""
        return center_crop(self.body(self.head(z)), self.h, self.w)


class Discriminator(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int], channels: list[int]):
        super().__init__()
        c, h, w = image_shape
        levels = doublings(h, w)
        self.multiple = 2 ** levels
        ws = widths(channels, levels)
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(c, ws[0], 3, padding=1)), nn.LeakyReLU(0.2)]
        c = ws[0]
        for cout in ws:
            layers += [spectral_norm(nn.Conv2d(c, cout, 4, 2, 1)), nn.LeakyReLU(0.2)]
            c = cout
        m = self.multiple
        feature_size = c * (padded_size(h, m) // m) * (padded_size(w, m) // m)
        self.body = nn.Sequential(*layers, nn.Flatten(), spectral_norm(nn.Linear(feature_size, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Real-vs-fake logits (N,) for images in [-1, 1]."""
        return self.body(pad_to_multiple(x, self.multiple, value=-1.0)).squeeze(1)


class DCGAN(GenerativeModel):
    """Images in [-1, 1] inside (no data statistics needed)."""
    Settings = GANSettings
    capabilities = Capabilities(encodes=True, encodes_slowly=True, decodes=True, samples=True)

    def __init__(self, settings: GANSettings | None = None, **values):
        super().__init__(settings, **values)
        s = self.settings
        self.latent_dim, self.loss_kind, self.invert_steps = s.latent_dim, s.loss, s.invert_steps
        self.generator = Generator(self.image_shape, s.latent_dim, list(s.channels))
        self.discriminator = Discriminator(self.image_shape, list(s.channels))

    # --- generation -------------------------------------------------------------------------
    def decode(self, z):
        return (self.generator(z) + 1) / 2

    def encode(self, x, steps: int | None = None):
        """GAN inversion: the z (from z = 0, by Adam) whose G(z) is closest to x, with a weak N(0, I) prior."""
        was_training = self.generator.training
        self.generator.eval()
        target = x * 2 - 1
        z = torch.zeros(len(x), self.latent_dim, device=x.device, requires_grad=True)
        opt = torch.optim.Adam([z], lr=0.1)
        with torch.enable_grad():
            for _ in range(steps or self.invert_steps):
                err = (self.generator(z) - target).pow(2).flatten(1).sum(1) + 0.01 * z.pow(2).sum(1)
                z.grad, = torch.autograd.grad(err.sum(), z)
                opt.step()
        self.generator.train(was_training)
        return z.detach()

    # --- training ---------------------------------------------------------------------------
    def _discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        if self.loss_kind == "hinge":
            return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
        return F.softplus(-real).mean() + F.softplus(fake).mean()

    def _generator_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return -fake.mean() if self.loss_kind == "hinge" else F.softplus(-fake).mean()

    def _losses(self, d_loss, g_loss, real, fake) -> dict[str, torch.Tensor]:
        """D(x) and D(G(z)) are reported as the discriminator's mean probability that an image is real."""
        return {"d_loss": d_loss, "g_loss": g_loss, "d_real": torch.sigmoid(real).mean(),
                "d_fake": torch.sigmoid(fake).mean(), "total": d_loss + g_loss}

    def loss(self, x):
        real = self.discriminator(x * 2 - 1)
        fake = self.discriminator(self.generator(self.sample_latents(len(x))))
        return self._losses(self._discriminator_loss(real, fake), self._generator_loss(fake), real, fake)

    def configure_optimizers(self, lr):
        betas = (0.5, 0.999)
        return {"generator": torch.optim.Adam(self.generator.parameters(), lr=lr, betas=betas),
                "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=betas)}

    def train_step(self, x, optimizers):
        """One discriminator step on real and fresh fake images, then one generator step against it."""
        fake_images = self.generator(self.sample_latents(len(x)))
        real = self.discriminator(x * 2 - 1)
        fake = self.discriminator(fake_images.detach())
        d_loss = self._discriminator_loss(real, fake)
        optimizers["discriminator"].zero_grad(set_to_none=True)
        d_loss.backward()
        optimizers["discriminator"].step()

        g_loss = self._generator_loss(self.discriminator(fake_images))
        optimizers["generator"].zero_grad(set_to_none=True)
        g_loss.backward()
        optimizers["generator"].step()
        return {k: v.detach() for k, v in self._losses(d_loss, g_loss, real, fake).items()}


GAN = Family("gan", DCGAN, "GAN: DCGAN generator, spectrally normalised discriminator", lr=5e-4,
             tiny={"latent_dim": 8, "channels": [16, 32]}, kind="GAN")
