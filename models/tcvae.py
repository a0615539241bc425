"""β-TCVAE (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs"): a VAE whose KL term is split
into the index-code mutual information, the total correlation of the code's dimensions and their
dimension-wise KL from the prior, with the total correlation weighted by β.

    KL(q(z|x) || p(z)) = E[log q(z|x) - log q(z)]          mutual information (weight α)
                       + E[log q(z) - Σ_j log q(z_j)]      total correlation  (weight β)
                       + E[Σ_j log q(z_j) - log p(z)]      dimension-wise KL  (weight γ)

q(z) and its marginals are estimated on the batch: each z_i is scored under every q(z|x_k) of the batch
(``log q(z) ≈ logsumexp_k log q(z_i | x_k) - log N``, as in disentanglement_lib). With α = β = γ = 1 the
three terms add up to the plain VAE's sampled KL. A larger β pushes the code's dimensions apart.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .family import Family, setting
from .vae import MLPVAE, MLPVAESettings


@dataclass(frozen=True)
class TCVAESettings(MLPVAESettings):
    beta: float = setting(6.0, "Weight of the total correlation between the code's dimensions", low=0.0, high=1e4,
                          label="β (TC weight)")
    alpha: float = setting(1.0, "Weight of the mutual information between image and code", low=0.0, high=1e4,
                           label="α (MI weight)")
    gamma: float = setting(1.0, "Weight of each dimension's KL from the prior", low=0.0, high=1e4,
                           label="γ (KL weight)")


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(z; mu, exp(logvar))."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) * (-logvar).exp())


def kl_decomposition(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> dict[str, torch.Tensor]:
    """Batch estimates of the mutual information, total correlation and dimension-wise KL of codes ``z``
    (N, D) drawn from q(z|x) = N(mu, exp(logvar))."""
    n = len(z)
    log_qz_x = log_normal(z, mu, logvar).sum(1)
    log_pz = log_normal(z, torch.zeros_like(z), torch.zeros_like(z)).sum(1)
    pairs = log_normal(z[:, None], mu[None], logvar[None])  # (N, N, D): log q(z_i,d | x_k)
    log_qz = torch.logsumexp(pairs.sum(2), dim=1) - math.log(n)
    log_prod_qzj = (torch.logsumexp(pairs, dim=1) - math.log(n)).sum(1)
    return {"mi": (log_qz_x - log_qz).mean(), "tc": (log_qz - log_prod_qzj).mean(),
            "dwkl": (log_prod_qzj - log_pz).mean()}


class TCVAE(MLPVAE):
    """β-TCVAE, fully connected"""
    Settings = TCVAESettings

    def prior_terms(self, z, mu, logvar):
        s, terms = self.settings, kl_decomposition(z, mu, logvar)
        return terms, s.alpha * terms["mi"] + s.beta * terms["tc"] + s.gamma * terms["dwkl"]


BETA_TCVAE = Family("beta-tcvae", TCVAE, "β-TCVAE: a VAE that penalises the total correlation of its code "
                    "(disentangling)", tiny={"latent_dim": 4, "hidden": [32]}, kind="Variational autoencoder")
