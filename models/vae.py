"""Variational autoencoders (Kingma & Welling): fully-connected and convolutional.

encoder(x) = (mu, log sigma^2); z = mu + sigma * eps (reparameterisation); the loss is the negative
ELBO per image: reconstruction negative log-likelihood + beta * KL(q(z|x) || N(0, I)), with a Gaussian
(fixed ``obs_std``) or Bernoulli likelihood.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .autoencoder import CodeSettings
from .base import GenerativeModel, gaussian_kl
from .family import Capabilities, Family, setting
from .layers import ConvDecoder, ConvEncoder, ConvWidths, MLPWidths, Normalize, mlp
from .losses import ReconTerms, extra_recon_terms


@dataclass(frozen=True)
class VAESettings(CodeSettings):
    beta: float = setting(1.0, "Weight of the KL term of the loss (1 = the plain ELBO)", low=0.0, high=1e4,
                          label="β (KL weight)")
    likelihood: Literal["gaussian", "bernoulli"] = setting("gaussian", "Reconstruction likelihood p(x|z)")
    obs_std: float = setting(0.1, "Pixel noise std of the Gaussian likelihood", low=1e-4, high=10.0,
                             label="Gaussian σ")


@dataclass(frozen=True)
class MLPVAESettings(ReconTerms, MLPWidths, VAESettings):
    pass


@dataclass(frozen=True)
class ConvVAESettings(ReconTerms, ConvWidths, VAESettings):
    pass


class _VAE(GenerativeModel):
    capabilities = Capabilities(encodes=True, decodes=True, samples=True, reconstructs=True, posterior=True,
                                likelihood="bound")

    def __init__(self, settings: VAESettings | None = None, **values):
        """``recon_loss``: ssim or perceptual add that term (per pixel, times ``recon_weight``) to the loss."""
        super().__init__(settings, **values)
        s = self.settings
        self.latent_dim, self.beta, self.likelihood, self.obs_std = s.latent_dim, s.beta, s.likelihood, s.obs_std
        self.recon_loss, self.recon_weight = s.recon_loss, s.recon_weight
        self.norm = Normalize(s.mean, s.std)
        if s.likelihood != "gaussian":  # a Bernoulli likelihood is no density over 8-bit pixels: no bits/dim
            self.capabilities = dataclasses.replace(self.capabilities, likelihood="")

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

    def loss(self, x):
        mu, logvar = self.posterior(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        logits = self.decode_logits(z)
        if self.likelihood == "bernoulli":
            recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
        else:
            recon = 0.5 * (torch.sigmoid(logits) - x).pow(2).sum() / (self.obs_std ** 2 * len(x))
        terms, penalty = self.prior_terms(z, mu, logvar)
        extra = extra_recon_terms(self.recon_loss, torch.sigmoid(logits), x)
        total = recon + penalty + self.recon_weight * math.prod(self.image_shape) * sum(extra.values())
        return {"recon": recon, **terms, **extra, "total": total}

    def prior_terms(self, z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> tuple[dict, torch.Tensor]:
        """The loss terms that pull q(z|x) towards the prior, and their weighted sum: here beta * KL."""
        kl = gaussian_kl(mu, logvar)
        return {"kl": kl}, self.beta * kl

    def bits_per_dim(self, x: torch.Tensor) -> torch.Tensor:
        """The negative ELBO of a Gaussian likelihood in bits/dim: an upper bound on -log2 p(x) / dims (one draw
        of z per image); per image."""
        if not self.capabilities.likelihood:
            return super().bits_per_dim(x)
        mu, logvar = self.posterior(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        recon = 0.5 * (self.decode(z) - x).pow(2).flatten(1).sum(1) / self.obs_std ** 2
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
        dims = math.prod(self.image_shape)
        nats = (recon + kl) / dims + 0.5 * math.log(2 * math.pi * self.obs_std ** 2)
        return (nats + math.log(256)) / math.log(2)


class MLPVAE(_VAE):
    """Variational autoencoder, fully connected"""
    Settings = MLPVAESettings

    def __init__(self, settings: MLPVAESettings | None = None, **values):
        super().__init__(settings, **values)
        hidden = list(self.settings.hidden)
        d = math.prod(self.image_shape)
        self.encoder = nn.Sequential(nn.Flatten(), mlp([d, *hidden, 2 * self.latent_dim]))
        self.decoder = mlp([self.latent_dim, *reversed(hidden), d])


class ConvVAE(_VAE):
    """Variational autoencoder, convolutional"""
    Settings = ConvVAESettings

    def __init__(self, settings: ConvVAESettings | None = None, **values):
        super().__init__(settings, **values)
        channels = list(self.settings.channels)
        self.encoder = ConvEncoder(self.image_shape, channels, 2 * self.latent_dim)
        self.decoder = ConvDecoder(self.image_shape, channels, self.latent_dim)


VAE = Family("vae", MLPVAE, "Variational autoencoder, fully connected", tiny={"latent_dim": 4, "hidden": [32]},
             kind="Variational autoencoder")
CONV_VAE = Family("conv-vae", ConvVAE, "Variational autoencoder, convolutional",
                  tiny={"latent_dim": 4, "channels": [8, 16]}, kind="Variational autoencoder")
