"""Latent diffusion (Rombach et al. 2022, the idea behind Stable Diffusion): diffusion on an autoencoder's codes.

A trained autoencoder or VAE (the frozen ``base``) encodes images to codes; a DDPM with a residual-MLP
denoiser learns the distribution of those codes (standardised with statistics of the first training
batch); sampling runs DDIM in code space and lets the base decode. The base's config and weights are
part of this model's config and state dict, so a checkpoint is self-contained.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .diffusion import DiffusionFamily, DiffusionSettings, SinusoidalEmbedding
from .family import Family, SettingError, setting
from .registry import build_model


@dataclass(frozen=True)
class LatentDiffusionSettings(DiffusionSettings):
    base: dict = setting(None, "the trained autoencoder or VAE it works on: {'name': ..., 'config': ...}",
                         derived=True, required=True)
    hidden: int = setting(256, "Width of the denoiser's residual MLP", low=1, high=16384, label="Hidden width")
    depth: int = setting(4, "Residual blocks of the denoiser", low=1, high=64)

    def check(self):
        if not isinstance(self.base, dict) or "name" not in self.base or "config" not in self.base:
            raise SettingError("base: latent diffusion needs {'name': ..., 'config': ...} of an autoencoder or VAE")


class MLPBlock(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.fc1, self.time, self.fc2 = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)

    def forward(self, h, temb):
        return h + self.fc2(nn.functional.silu(self.fc1(self.norm(h)) + self.time(temb)))


class MLPDenoiser(nn.Module):
    """Predicts the noise in a code vector at step t."""

    def __init__(self, dim: int, hidden: int, depth: int):
        super().__init__()
        self.time = nn.Sequential(SinusoidalEmbedding(hidden), nn.Linear(hidden, hidden), nn.SiLU())
        self.inp = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList([MLPBlock(hidden) for _ in range(depth)])
        self.out = nn.Linear(hidden, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, t):
        temb, h = self.time(t), self.inp(x)
        for block in self.blocks:
            h = block(h, temb)
        return self.out(h)


def can_be_base(model) -> bool:
    """Whether ``model`` can be a latent diffusion's base: an encoder network whose codes, smaller than the
    images, decode back to them (autoencoders, VAEs)."""
    caps = model.capabilities
    return caps.modality == "image" and caps.encodes and caps.reconstructs and not caps.encodes_slowly \
        and model.latent_dim < math.prod(model.image_shape)


class LatentDiffusion(DiffusionFamily):
    """The base's config and weights come with this model's (a checkpoint stands on its own); the base
    normalises its own input."""
    Settings = LatentDiffusionSettings

    def __init__(self, settings: LatentDiffusionSettings | None = None, **values):
        super().__init__(settings, **values)
        s = self.settings
        base_model = build_model(s.base["name"], s.base["config"])
        if not can_be_base(base_model):
            raise SettingError(f"base: latent diffusion needs an autoencoder or VAE as its base, "
                               f"not a {base_model.name} model")
        if base_model.image_shape != self.image_shape:
            raise SettingError(f"base: the base model was trained on images {list(base_model.image_shape)}, "
                               f"not {list(self.image_shape)}")
        self.latent_dim = base_model.latent_dim
        self.base = base_model.requires_grad_(False).eval()
        self.net = MLPDenoiser(self.latent_dim, s.hidden, s.depth)
        self.register_buffer("code_mean", torch.zeros(self.latent_dim))
        self.register_buffer("code_std", torch.ones(self.latent_dim))
        self.register_buffer("code_stats_ready", torch.tensor(False))
        self.keep_average("net")

    def train(self, mode: bool = True):
        """The base stays frozen in eval mode (its BatchNorm statistics must not move)."""
        super().train(mode)
        self.base.eval()
        return self

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised base codes; the first training batch fixes the standardisation."""
        with torch.no_grad():
            c = self.base.encode(x)
            if self.training and not self.code_stats_ready:
                self.code_mean.copy_(c.mean(0))
                self.code_std.copy_(c.std(0).clamp_min(1e-4))
                self.code_stats_ready.fill_(True)
        return (c - self.code_mean) / self.code_std

    def loss(self, x):
        mse = self.diffusion.loss(self.net, self.codes(x))
        return {"noise_mse": mse, "total": mse}

    def configure_optimizers(self, lr):
        return {"main": torch.optim.Adam(self.net.parameters(), lr=lr)}

    def encode(self, x):
        """DDIM inversion of the image's base code: the noise that ``decode`` maps back to that code."""
        return self.diffusion.invert(self.sampling("net"), self.codes(x), self.sample_steps)

    def decode_code(self, z: torch.Tensor, eta: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """Noise -> (DDIM) -> base code, unstandardised."""
        code = self.diffusion.sample(self.sampling("net"), z, self.sample_steps, eta=eta, generator=generator)
        return code * self.code_std + self.code_mean

    def generate(self, z, eta=0.0, generator=None):
        return self.base.decode(self.decode_code(z, eta, generator))

    def denoise_steps(self, z, steps=None, generator=None):
        """Yields (t, the base's decoding of the predicted clean code) per DDIM step."""
        eta = self.settings.eta if generator is not None else 0.0
        for t, _, c0 in self.diffusion.denoise_steps(self.sampling("net"), z, steps or self.sample_steps, eta=eta,
                                                     generator=generator):
            yield t, self.base.decode(c0 * self.code_std + self.code_mean)


LATENT_DIFFUSION = Family("latent-diffusion", LatentDiffusion, "Latent diffusion: diffusion on a trained "
                          "autoencoder's or VAE's codes", tiny={"hidden": 64, "depth": 2, "sample_steps": 10},
                          kind="Latent diffusion", needs_base=True)
