"""Image-similarity losses for autoencoders: SSIM (Wang et al. 2004) and a perceptual loss (Johnson et al. 2016).

An autoencoder's or VAE's ``recon_loss`` setting adds one of them to its pixel loss: ``mse`` (nothing
added), ``ssim`` (1 - SSIM) or ``perceptual`` (distance between VGG16 features of the reconstruction and
the input). The VGG16 ImageNet weights are read (and downloaded on first use) by ``core.image.model_setup``,
since models do no file I/O.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .family import setting

ReconLoss = Literal["mse", "ssim", "perceptual"]
VGG_TAPS = (3, 8, 15)  # relu1_2, relu2_2, relu3_3 in vgg16.features


@dataclass(frozen=True)
class ReconTerms:
    """Settings of the families that may add an image-similarity term to their pixel loss."""
    recon_loss: ReconLoss = setting("mse", "Term added to the pixel loss: none (mse), 1 − SSIM (ssim) or the distance "
                                           "of VGG16 features (perceptual)", label="Reconstruction loss")
    recon_weight: float = setting(1.0, "Weight of that added term", low=0.0, high=1e4, label="Extra loss weight")


class PerceptualWeightsMissing(RuntimeError):
    """The pretrained network the perceptual loss needs has not been loaded."""


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 7, sigma: float = 1.5) -> torch.Tensor:
    """Mean structural similarity per image for images in [0, 1]: Gaussian-weighted local means, variances
    and covariance over ``window`` x ``window`` patches (smaller for small images), valid positions only."""
    c, h, w = x.shape[1:]
    size = min(window, h, w)
    size -= 1 - size % 2  # odd
    g = torch.exp(-(torch.arange(size, dtype=x.dtype, device=x.device) - size // 2) ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    kernel = (g[:, None] * g[None, :]).expand(c, 1, size, size)

    def blur(t):
        return F.conv2d(t, kernel, groups=c)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1)


class VGGFeatures(nn.Module):
    """Frozen VGG16 layers up to relu3_3; returns the activations at ``VGG_TAPS``."""

    def __init__(self, state_dict: dict):
        super().__init__()
        from torchvision.models.vgg import cfgs, make_layers
        features = make_layers(cfgs["D"][:9])  # VGG16's layers up to relu3_3 (indices 0-15)
        features.load_state_dict({k.removeprefix("features."): v for k, v in state_dict.items()
                                  if k.startswith("features.") and int(k.split(".")[1]) <= VGG_TAPS[-1]})
        self.features = features.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x[:, :3]
        if min(x.shape[-2:]) < 32:  # three poolings deep: small images are enlarged first
            x = F.interpolate(x, scale_factor=32 / min(x.shape[-2:]), mode="bilinear", align_corners=False)
        x, out = (x - self.mean) / self.std, []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in VGG_TAPS:
                out.append(x)
        return out


_vgg: dict[str, VGGFeatures] = {}  # by device; core.image.model_setup installs the CPU one from the weights file


def install_vgg(state_dict: dict) -> None:
    """Make the perceptual loss usable: build its network from torchvision's VGG16 state dict."""
    _vgg.clear()
    _vgg["cpu"] = VGGFeatures(state_dict)


def vgg_features(device: torch.device | str = "cpu") -> VGGFeatures:
    if "cpu" not in _vgg:
        raise PerceptualWeightsMissing("the perceptual loss needs torchvision's VGG16 ImageNet weights, and none "
                                       "are loaded (core.image.model_setup.load_pretrained does that)")
    key = str(device)
    if key not in _vgg:
        _vgg[key] = _vgg["cpu"].to(key) if key != "cpu" else _vgg["cpu"]
    return _vgg[key]


def perceptual_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per image: squared distance between channel-normalised VGG16 features, averaged over positions and
    summed over the tapped layers (LPIPS without its learned weights)."""
    net = vgg_features(x.device)
    total = 0
    for fx, fy in zip(net(x), net(y)):
        total = total + (F.normalize(fx, dim=1) - F.normalize(fy, dim=1)).pow(2).sum(1).flatten(1).mean(1)
    return total


def extra_recon_terms(kind: str, reconstruction: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The batch-mean extra loss term ``recon_loss`` asks for: {} for mse, else {"ssim": ...} or {"perceptual": ...}."""
    if kind == "ssim":
        return {"ssim": (1 - ssim(reconstruction, x)).mean()}
    if kind == "perceptual":
        return {"perceptual": perceptual_distance(reconstruction, x).mean()}
    return {}
