"""The interface every image family shares.

A model sees images as float tensors of shape (N, C, H, W) with values in [0, 1]. It is built from its
family's checked ``Settings`` (``models.family``), whose ``to_dict`` is the JSON-able config a checkpoint
keeps, so a checkpoint rebuilds the model without pickling code. What a model can do is declared in
``capabilities``; a method outside its capabilities raises.
"""
from __future__ import annotations

from typing import ClassVar, Iterator

import torch
from torch import nn

from .ema import WeightAverage
from .family import Capabilities, ImageSettings


class GenerativeModel(nn.Module):
    """Base class: encode / decode / sample / loss, plus the optimisation step the trainer calls.

    Subclasses set ``Settings`` and ``capabilities``, and implement ``loss`` and what their capabilities
    promise. ``loss`` returns a dict of named scalar tensors with at least ``total``; the trainer logs each.
    """

    Settings: ClassVar[type[ImageSettings]] = ImageSettings
    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(self, settings: ImageSettings | None = None, **values):
        """From checked ``settings``, or from setting ``values`` (checked here)."""
        super().__init__()
        self.settings = settings if settings is not None else self.Settings.from_dict(values)
        self.image_shape: tuple[int, int, int] = tuple(self.settings.image_shape)
        self.latent_dim = 0  # set by families that encode or sample
        self.name = type(self).__name__  # the registry's name, once built by ``models.build_model``

    @property
    def config(self) -> dict:
        """The JSON-able settings a checkpoint keeps."""
        return self.settings.to_dict()

    # --- the shared interface -------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Image batch -> latent codes (N, latent_dim); deterministic (a VAE returns the mean)."""
        raise NotImplementedError(f"{self.name} models do not encode images")

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent codes -> images in [0, 1], shape (N, C, H, W)."""
        raise NotImplementedError(f"{self.name} models do not decode codes")

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` images from the model's prior (families that sample decode ``sample_latents``)."""
        if not self.capabilities.samples:
            raise NotImplementedError(f"{self.name} models have no prior to sample from")
        return self.decode(self.sample_latents(n, temperature, generator))

    def sample_latents(self, n: int, temperature: float = 1.0,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, temperature^2 I), shape (n, latent_dim): the prior draws that ``sample`` decodes."""
        return torch.randn(n, self.latent_dim, generator=generator, device=self.device) * temperature

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z|x) (``capabilities.posterior``)."""
        raise NotImplementedError(f"{self.name} models have no posterior q(z|x)")

    def bits_per_dim(self, x: torch.Tensor) -> torch.Tensor:
        """Per image -log2 p(x) / dims of 8-bit images: exact or an upper bound (``capabilities.likelihood``)."""
        raise NotImplementedError(f"{self.name} models have no likelihood")

    def denoise_steps(self, z: torch.Tensor, steps: int | None = None,
                      generator: torch.Generator | None = None) -> Iterator[tuple[int, torch.Tensor]]:
        """Watch sampling happen (``capabilities.iterative``): yields (t, predicted clean images in [0, 1])
        after each of the model's ``sample_steps`` steps from noise ``z``. With a ``generator``, the steps of
        ``sample`` (a family that adds fresh noise draws it from there); without, those of ``decode``."""
        raise NotImplementedError(f"{self.name} models do not sample in steps")

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named loss components for a batch; ``total`` is what is minimised."""
        raise NotImplementedError

    # --- averaged weights (``models.ema``) ---------------------------------------------------
    def keep_average(self, *names: str) -> None:
        """Average the weights of sub-networks ``names`` over training and sample with the averages (call at the
        end of ``__init__``; the settings have ``ema_decay``)."""
        self.ema = WeightAverage({n: getattr(self, n) for n in names}, self.settings.ema_decay)

    def sampling(self, name: str) -> nn.Module:
        """Sub-network ``name`` as sampling, decoding and encoding use it: its moving average in eval mode (if
        kept), the live network in training."""
        ema = self._modules.get("ema")
        return ema.copies[name] if ema is not None and not self.training else getattr(self, name)

    def update_average(self) -> None:
        """After an optimisation step: the moving averages take a step towards the live weights."""
        ema = self._modules.get("ema")
        if ema is not None:
            ema.update({n: getattr(self, n) for n in ema.copies})

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """As ``nn.Module``'s; weights saved before the model averaged them start their averages."""
        if "ema" in self._modules:
            state_dict = WeightAverage.complete(state_dict, self.state_dict().keys())
        return super().load_state_dict(state_dict, strict, assign)

    # --- optimisation (overridden by families with several optimisers, e.g. GANs) ----------
    def trained_parameters(self) -> list[nn.Parameter]:
        """The parameters the optimisers move (not the averages, nor frozen parts)."""
        return [p for p in self.parameters() if p.requires_grad]

    def configure_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        return {"main": torch.optim.Adam(self.trained_parameters(), lr=lr)}

    def train_step(self, x: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
        """One optimisation step on batch ``x``; returns the detached loss components."""
        opt = optimizers["main"]
        opt.zero_grad(set_to_none=True)
        losses = self.loss(x)
        losses["total"].backward()
        opt.step()
        self.update_average()
        return {k: v.detach() for k, v in losses.items()}

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over latent dims, averaged over the batch."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1).mean()
