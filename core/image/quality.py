"""The figures of the comparison: Fréchet distance, precision and recall of feature sets, label entropy,
bits/dim, training time; and Inception v3's features, when its weights are already on this machine."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models import GenerativeModel

INCEPTION_FILE = "inception_v3_google-0cc3c7bd.pth"  # torchvision's Inception v3 weights, in torch's hub cache
K_NEAREST = 3  # neighbourhood size of the precision/recall manifolds


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^1/2) between Gaussians fitted to two feature sets.

    tr((S_a S_b)^1/2) is computed as the sum of square roots of the eigenvalues of the symmetric
    S_a^1/2 S_b S_a^1/2, which stays stable when the covariances are (near) singular."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ s_b @ root_a), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * cross)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = K_NEAREST) -> tuple[float, float]:
    """Improved precision and recall: each set's manifold is the union of balls reaching each point's k-th
    nearest neighbour; precision = share of fake points inside the real manifold, recall the converse."""
    r, f = torch.from_numpy(real).float(), torch.from_numpy(fake).float()

    def radii(x):
        return torch.cdist(x, x).kthvalue(k + 1, dim=1).values  # +1: the point itself is at distance 0

    def covered(points, centres, r_centres):
        return float((torch.cdist(points, centres) <= r_centres[None]).any(1).float().mean())

    return covered(f, r, radii(r)), covered(r, f, radii(f))


def label_entropy(labels: np.ndarray, num_classes: int) -> float:
    """Entropy of the predicted-label histogram over log(num_classes): 1 = every class equally often."""
    p = np.bincount(labels, minlength=num_classes) / max(len(labels), 1)
    p = p[p > 0]
    return max(0.0, float(-(p * np.log(p)).sum() / math.log(num_classes))) if num_classes > 1 else 0.0


def training_time(history: list[dict]) -> float | None:
    """Seconds of training: the median time per step between logged rows (robust to pauses and resumed
    sessions) times the number of steps."""
    rows = [r for r in history if r.get("time") and r.get("step")]
    rates = [(b["time"] - a["time"]) / (b["step"] - a["step"]) for a, b in zip(rows, rows[1:]) if b["step"] > a["step"]]
    return float(np.median(rates)) * rows[-1]["step"] if rates else None


@torch.no_grad()
def bits_per_dim(model: GenerativeModel, x: torch.Tensor) -> tuple[float | None, str]:
    """Mean bits/dim of 8-bit images ``x`` and what kind of figure it is: exact (flows), bound (an upper bound
    on the NLL, e.g. a VAE's negative ELBO), or none."""
    kind = model.capabilities.likelihood
    return (float(model.bits_per_dim(x).mean()), kind) if kind else (None, "")


def inception_weights() -> Path | None:
    path = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    return path if path.is_file() else None


class InceptionFeatures:
    """torchvision's Inception v3 pool features (2048) of images resized to 299x299, grey made RGB."""

    def __init__(self, weights: Path):
        from torchvision.models import inception_v3
        self.net = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=True)
        self.net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self.net.fc = nn.Identity()
        self.net.eval()
        self.mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, batch_size: int = 50) -> np.ndarray:
        out = []
        for chunk in images.split(batch_size):
            x = chunk.float().div(255.0) if chunk.dtype == torch.uint8 else chunk.float()
            x = F.interpolate(x.expand(-1, 3, -1, -1), size=(299, 299), mode="bilinear", align_corners=False)
            out.append(self.net((x - self.mean) / self.std).double().numpy())
        return np.concatenate(out)
