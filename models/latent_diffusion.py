"""Latent diffusion (Rombach et al. 2022, the idea behind Stable Diffusion): diffusion on an autoencoder's codes.

A trained autoencoder or VAE (the frozen ``base``) encodes images to codes; a DDPM with a residual-MLP
denoiser learns the distribution of those codes (standardised with statistics of the first training
batch); sampling runs DDIM in code space and lets the base decode. The base's config and weights are
part of this model's config and state dict, so a checkpoint is self-contained.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import GenerativeModel
from .diffusion import GaussianDiffusion, SinusoidalEmbedding


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


class LatentDiffusion(GenerativeModel):
    family = "latent-diffusion"
    reconstructs = False

    def __init__(self, image_shape, base: dict, hidden: int = 256, depth: int = 4, timesteps: int = 1000,
                 sample_steps: int = 50, mean: list[float] | None = None, std: list[float] | None = None):
        """``base``: ``{"name": ..., "config": ...}`` of a trained autoencoder/VAE (its weights come with the
        state dict). ``mean``/``std`` are unused here (the base normalises its own input)."""
        from . import build_model  # the registry imports this module
        if not isinstance(base, dict) or "name" not in base or "config" not in base:
            raise ValueError("latent diffusion needs 'base': {'name': ..., 'config': ...} of an autoencoder or VAE")
        base_model = build_model(base["name"], base["config"])
        if base_model.family not in ("ae", "vae"):
            raise ValueError(f"latent diffusion needs an autoencoder or VAE as its base, "
                             f"not a {base_model.family} model")
        if tuple(base_model.image_shape) != tuple(int(s) for s in image_shape):
            raise ValueError(f"the base model was trained on images {list(base_model.image_shape)}, "
                             f"not {list(image_shape)}")
        super().__init__(image_shape, base_model.latent_dim)
        del self.config["latent_dim"]  # the base model's
        self.config.update(base={"name": base["name"], "config": base_model.config}, hidden=int(hidden),
                           depth=int(depth), timesteps=int(timesteps), sample_steps=int(sample_steps))
        self.sample_steps = int(sample_steps)
        self.base = base_model.requires_grad_(False).eval()
        self.net = MLPDenoiser(self.latent_dim, hidden, depth)
        self.diffusion = GaussianDiffusion(timesteps)
        self.register_buffer("code_mean", torch.zeros(self.latent_dim))
        self.register_buffer("code_std", torch.ones(self.latent_dim))
        self.register_buffer("code_stats_ready", torch.tensor(False))

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
        return self.diffusion.invert(self.net, self.codes(x), self.sample_steps)

    def decode_code(self, z: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """Noise -> (DDIM) -> base code, unstandardised."""
        return self.diffusion.sample(self.net, z, steps or self.sample_steps) * self.code_std + self.code_mean

    def decode(self, z):
        return self.base.decode(self.decode_code(z))

    def denoise_steps(self, z: torch.Tensor, steps: int | None = None):
        """Watch sampling happen: yields (t, the base's decoding of the predicted clean code) per DDIM step."""
        for t, _, c0 in self.diffusion.denoise_steps(self.net, z, steps or self.sample_steps):
            yield t, self.base.decode(c0 * self.code_std + self.code_mean)

    def sample(self, n, temperature=1.0, generator=None):
        return self.decode(self.sample_latents(n, temperature, generator))
