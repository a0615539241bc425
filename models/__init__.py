"""Pure-PyTorch model families behind one interface (``models.base.GenerativeModel`` for images,
``models.audio_dae.AudioModel`` for audio denoisers).

Each family is declared in its own file (settings, capabilities, a ``Family``) and registered below with one
line; a model is rebuilt from ``(name, config)`` alone (``build_model``).
"""
from __future__ import annotations

from . import audio_dae, autoencoder, diffusion, flow, flow_matching, gan, latent_diffusion, tcvae, vae
from .audio_dae import AudioModel
from .base import GenerativeModel
from .family import Capabilities, Family, SettingError, Settings, SettingSpec
from .registry import FAMILIES, build_model, family, names, register

register(autoencoder.AE)
register(autoencoder.DAE)
register(autoencoder.CONV_AE)
register(vae.VAE)
register(vae.CONV_VAE)
register(tcvae.BETA_TCVAE)
register(gan.GAN)
register(flow.FLOW)
register(diffusion.DIFFUSION)
register(flow_matching.FLOW_MATCHING)
register(latent_diffusion.LATENT_DIFFUSION)
register(audio_dae.AUDIO_DAE)
register(audio_dae.AUDIO_DAE_SEED)

__all__ = ["FAMILIES", "AudioModel", "Capabilities", "Family", "GenerativeModel", "SettingError", "SettingSpec",
           "Settings", "build_model", "family", "names", "register"]
