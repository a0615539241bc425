"""Autoencoders: the lecture's fully-connected one and a convolutional one, both optionally denoising.

Denoising training (``noise_std`` > 0) corrupts the input with Gaussian noise and reconstructs the
clean image, which regularises the code as the lecture describes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import GenerativeModel
from .family import Capabilities, Family, setting
from .layers import ConvDecoder, ConvEncoder, ConvWidths, MLPWidths, Normalize, NormalizedSettings, mlp
from .losses import ReconTerms, extra_recon_terms


@dataclass(frozen=True)
class CodeSettings(NormalizedSettings):
    """Settings of the families with an encoder network (autoencoders, VAEs)."""
    latent_dim: int = setting(16, "Dimensions of the code z", low=1, high=4096, label="Latent size")


@dataclass(frozen=True)
class AESettings(CodeSettings):
    noise_std: float = setting(0.0, "Std of the Gaussian noise added to the inputs (denoising autoencoder)",
                               low=0.0, high=10.0, label="Noise level")


@dataclass(frozen=True)
class MLPAESettings(ReconTerms, MLPWidths, AESettings):
    pass


@dataclass(frozen=True)
class ConvAESettings(ReconTerms, ConvWidths, AESettings):
    pass


class _Autoencoder(GenerativeModel):
    capabilities = Capabilities(encodes=True, decodes=True, reconstructs=True)

    def __init__(self, settings: AESettings | None = None, **values):
        super().__init__(settings, **values)
        s = self.settings
        self.latent_dim, self.noise_std = s.latent_dim, s.noise_std
        self.recon_loss, self.recon_weight = s.recon_loss, s.recon_weight
        self.norm = Normalize(s.mean, s.std)

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
    Settings = MLPAESettings

    def __init__(self, settings: MLPAESettings | None = None, **values):
        super().__init__(settings, **values)
        hidden = list(self.settings.hidden)
        d = math.prod(self.image_shape)
        self.encoder = nn.Sequential(nn.Flatten(), mlp([d, *hidden, self.latent_dim]), nn.Tanh())
        self.decoder = mlp([self.latent_dim, *reversed(hidden), d])


class ConvAutoencoder(_Autoencoder):
    """Stride-2 convolutions down to a linear bottleneck and transposed convolutions back up."""
    Settings = ConvAESettings

    def __init__(self, settings: ConvAESettings | None = None, **values):
        super().__init__(settings, **values)
        channels = list(self.settings.channels)
        self.encoder = nn.Sequential(ConvEncoder(self.image_shape, channels, self.latent_dim), nn.Tanh())
        self.decoder = ConvDecoder(self.image_shape, channels, self.latent_dim)


AE = Family("ae", MLPAutoencoder, "Autoencoder: fully connected, the lecture's", fixed={"noise_std": 0.0},
            tiny={"latent_dim": 4, "hidden": [32]}, kind="Autoencoder")
DAE = Family("dae", MLPAutoencoder, "Denoising autoencoder: reconstructs clean images from noisy ones",
             defaults={"noise_std": 0.2}, tiny={"latent_dim": 4, "hidden": [32]}, kind="Denoising autoencoder")
CONV_AE = Family("conv-ae", ConvAutoencoder, "Convolutional autoencoder", tiny={"latent_dim": 4, "channels": [8, 16]},
                 kind="Autoencoder")
