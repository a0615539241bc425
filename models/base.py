"""The interface every generative model family shares.

A model sees images as float tensors of shape (N, C, H, W) with values in [0, 1]. It is built
from a plain, JSON-able ``config`` dict so that a checkpoint can rebuild it without pickling code.
"""
from __future__ import annotations

import torch
from torch import nn


class GenerativeModel(nn.Module):
    """Base class: encode / decode / sample / loss, plus the optimisation step the trainer calls.

    Subclasses set ``family`` and implement ``encode``, ``decode`` and ``loss``. ``loss`` returns a
    dict of named scalar tensors with at least ``total``; the trainer logs every entry.
    """

    family: str = "base"
    #: Whether ``reconstruct`` is meaningful (autoencoders, VAEs, flows): the trainer then reports R².
    reconstructs: bool = True

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: int):
        super().__init__()
        self.image_shape = tuple(int(s) for s in image_shape)
        self.latent_dim = int(latent_dim)
        self.config: dict = {"image_shape": list(self.image_shape), "latent_dim": self.latent_dim}

    # --- the shared interface -------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Image batch -> latent codes (N, latent_dim); deterministic (a VAE returns the mean)."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent codes -> images in [0, 1], shape (N, C, H, W)."""
        raise NotImplementedError

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` images from the model's prior; families without a prior raise."""
        raise NotImplementedError(f"{self.family} models have no prior to sample from")

    def sample_latents(self, n: int, temperature: float = 1.0,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, temperature^2 I), shape (n, latent_dim): the prior draws that ``sample`` decodes in families
        with a standard-normal prior (VAE, GAN, flow, diffusion noise)."""
        return torch.randn(n, self.latent_dim, generator=generator, device=self.device) * temperature

    @property
    def can_sample(self) -> bool:
        return type(self).sample is not GenerativeModel.sample

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named loss components for a batch; ``total`` is what is minimised."""
        raise NotImplementedError

    # --- optimisation (overridden by families with several optimisers, e.g. GANs) ----------
    def configure_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        return {"main": torch.optim.Adam(self.parameters(), lr=lr)}

    def train_step(self, x: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
        """One optimisation step on batch ``x``; returns the detached loss components."""
        opt = optimizers["main"]
        opt.zero_grad(set_to_none=True)
        losses = self.loss(x)
        losses["total"].backward()
        opt.step()
        return {k: v.detach() for k, v in losses.items()}

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over latent dims, averaged over the batch."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1).mean()
