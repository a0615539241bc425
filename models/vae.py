"""Variational autoencoders (Kingma & Welling): fully-connected and convolutional.

encoder(x) = (mu, log sigma^2); z = mu + sigma * eps (reparameterisation); the loss is the negative
ELBO per image: reconstruction negative log-likelihood + beta * KL(q(z|x) || N(0, I)), with a Gaussian
(fixed ``obs_std``) or Bernoulli likelihood.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import GenerativeModel, gaussian_kl
from .layers import ConvDecoder, ConvEncoder, Normalize, mlp
from .losses import RECON_LOSSES, check_recon_loss, extra_recon_terms  # noqa: F401 (RECON_LOSSES: the GUI's choices)

LIKELIHOODS = ("gaussian", "bernoulli")


class _VAE(GenerativeModel):
    family = "vae"

    def __init__(self, image_shape, latent_dim: int, mean: list[float], std: list[float], beta: float = 1.0,
                 likelihood: str = "gaussian", obs_std: float = 0.1, recon_loss: str = "mse",
                 recon_weight: float = 1.0):
        """``recon_loss``: ssim or perceptual add that term (per pixel, times ``recon_weight``) to the loss."""
        super().__init__(image_shape, latent_dim)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        self.config.update(mean=list(mean), std=list(std), beta=float(beta), likelihood=likelihood,
                           obs_std=float(obs_std), recon_loss=check_recon_loss(recon_loss),
                           recon_weight=float(recon_weight))
        self.recon_loss, self.recon_weight = recon_loss, float(recon_weight)
        self.norm = Normalize(mean, std)
        self.beta, self.likelihood, self.obs_std = float(beta), likelihood, float(obs_std)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z|x)."""
        mu, logvar = self.encoder(self.norm(x)).chunk(2, dim=1)
        return mu, logvar.clamp(-12, 8)

    def encode(self, x):
        return self.posterior(x)[0]

    def decode_logits(self, z):
        return self.decoder(z).view(-1, *self.image_shape)

    def decode(self, z):
        return torch.sigmoid(self.decode_logits(z))

    def sample(self, n, temperature=1.0, generator=None):
        z = torch.randn(n, self.latent_dim, generator=generator, device=self.device) * temperature
        return self.decode(z)

    def loss(self, x):
        mu, logvar = self.posterior(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        logits = self.decode_logits(z)
        if self.likelihood == "bernoulli":
            recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
        else:
            recon = 0.5 * (torch.sigmoid(logits) - x).pow(2).sum() / (self.obs_std ** 2 * len(x))
        kl = gaussian_kl(mu, logvar)
        extra = extra_recon_terms(self.recon_loss, torch.sigmoid(logits), x)
        total = recon + self.beta * kl + self.recon_weight * math.prod(self.image_shape) * sum(extra.values())
        return {"recon": recon, "kl": kl, **extra, "total": total}


class MLPVAE(_VAE):
    def __init__(self, image_shape, latent_dim: int = 16, hidden: list[int] = (256, 128), **kw):
        super().__init__(image_shape, latent_dim, **kw)
        self.config["hidden"] = list(hidden)
        d = math.prod(self.image_shape)
        self.encoder = nn.Sequential(nn.Flatten(), mlp([d, *hidden, 2 * latent_dim]))
        self.decoder = mlp([latent_dim, *reversed(hidden), d])


class ConvVAE(_VAE):
    def __init__(self, image_shape, latent_dim: int = 16, channels: list[int] = (32, 64, 128, 256), **kw):
        super().__init__(image_shape, latent_dim, **kw)
        self.config["channels"] = list(channels)
        self.encoder = ConvEncoder(self.image_shape, list(channels), 2 * latent_dim)
        self.decoder = ConvDecoder(self.image_shape, list(channels), latent_dim)
