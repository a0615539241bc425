"""Autoencoders: the lecture's fully-connected one and a convolutional one, both optionally denoising.

Denoising training (``noise_std`` > 0) corrupts the input with Gaussian noise and reconstructs the
clean image, which regularises the code as the lecture describes.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import GenerativeModel
from .layers import ConvDecoder, ConvEncoder, Normalize, mlp
from .losses import RECON_LOSSES, check_recon_loss, extra_recon_terms  # noqa: F401 (RECON_LOSSES: the GUI's choices)


class _Autoencoder(GenerativeModel):
    family = "ae"

    def __init__(self, image_shape, latent_dim: int, mean: list[float], std: list[float], noise_std: float = 0.0,
                 recon_loss: str = "mse", recon_weight: float = 1.0):
        """``recon_loss``: ssim or perceptual add that term (times ``recon_weight``) to the MSE."""
        super().__init__(image_shape, latent_dim)
        self.config.update(mean=list(mean), std=list(std), noise_std=float(noise_std),
                           recon_loss=check_recon_loss(recon_loss), recon_weight=float(recon_weight))
        self.recon_loss, self.recon_weight = recon_loss, float(recon_weight)
        self.norm = Normalize(mean, std)
        self.noise_std = float(noise_std)

    def encode(self, x):
        return self.encoder(self.norm(x))

    def decode(self, z):
        return torch.sigmoid(self.decoder(z).view(-1, *self.image_shape))

    def loss(self, x):
        noisy = (x + self.noise_std * torch.randn_like(x)).clamp(0, 1) if self.noise_std and self.training else x
        xr = self.decode(self.encode(noisy))
        recon = F.mse_loss(xr, x)
        extra = extra_recon_terms(self.recon_loss, xr, x)
        return {"recon": recon, **extra, "total": recon + self.recon_weight * sum(extra.values())}


class MLPAutoencoder(_Autoencoder):
    """Normalise -> Linear/ELU stack -> Tanh bottleneck; mirrored decoder (the seed's Cifar100_AE)."""

    def __init__(self, image_shape, latent_dim: int = 16, hidden: list[int] = (256, 128), **kw):
        super().__init__(image_shape, latent_dim, **kw)
        self.config["hidden"] = list(hidden)
        d = math.prod(self.image_shape)
        self.encoder = nn.Sequential(nn.Flatten(), mlp([d, *hidden, latent_dim]), nn.Tanh())
        self.decoder = mlp([latent_dim, *reversed(hidden), d])


class ConvAutoencoder(_Autoencoder):
    """Stride-2 convolutions down to a linear bottleneck and transposed convolutions back up."""

    def __init__(self, image_shape, latent_dim: int = 16, channels: list[int] = (32, 64, 128, 256), **kw):
        super().__init__(image_shape, latent_dim, **kw)
        self.config["channels"] = list(channels)
        self.encoder = nn.Sequential(ConvEncoder(self.image_shape, list(channels), latent_dim), nn.Tanh())
        self.decoder = ConvDecoder(self.image_shape, list(channels), latent_dim)
