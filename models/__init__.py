"""Pure-PyTorch generative models behind one interface (see ``models.base.GenerativeModel``).

``MODELS`` maps the names used by the CLI, the GUI and checkpoints to model classes; a model is
rebuilt from ``(name, config)`` alone. ``AUDIO_MODELS`` holds the audio denoisers (waveform in,
waveform out, ``family == "audio"``): kept apart because they do not take images, but built the same way.
"""
from __future__ import annotations

from .audio_dae import AudioModel, CausalDenoiser, SeedDenoisingAE
from .autoencoder import ConvAutoencoder, MLPAutoencoder
from .base import GenerativeModel
from .diffusion import DiffusionModel
from .flow import GlowFlow
from .gan import DCGAN
from .latent_diffusion import LatentDiffusion
from .vae import ConvVAE, MLPVAE

#: name -> (class, extra defaults applied on top of the class's own)
MODELS: dict[str, tuple[type[GenerativeModel], dict]] = {
    "ae": (MLPAutoencoder, {}),
    "dae": (MLPAutoencoder, {"noise_std": 0.2}),
    "conv-ae": (ConvAutoencoder, {}),
    "vae": (MLPVAE, {}),
    "conv-vae": (ConvVAE, {}),
    "gan": (DCGAN, {}),
    "flow": (GlowFlow, {}),
    "diffusion": (DiffusionModel, {}),
    "latent-diffusion": (LatentDiffusion, {}),
}

#: audio denoisers: the streaming one the live view uses, and the lecture's DenoisingAE
AUDIO_MODELS: dict[str, tuple[type[AudioModel], dict]] = {
    "audio-dae": (CausalDenoiser, {}),
    "audio-dae-seed": (SeedDenoisingAE, {}),
}


def build_model(name: str, config: dict) -> GenerativeModel | AudioModel:
    """Build model ``name`` from a config dict (``image_shape`` plus the class's keyword arguments)."""
    registry = {**MODELS, **AUDIO_MODELS}
    if name not in registry:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(registry)}")
    cls, defaults = registry[name]
    model = cls(**{**defaults, **config})
    model.name = name
    return model
