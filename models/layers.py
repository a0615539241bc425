"""Building blocks shared by the image model families: input normalisation, MLP and conv stacks, and the
settings that go with them."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .family import ImageSettings, setting

MAX_WIDTH = 16384  # widest layer a setting may ask for


@dataclass(frozen=True)
class NormalizedSettings(ImageSettings):
    """Image settings of families that normalise their input with the data set's statistics."""
    mean: tuple[float, ...] = setting(None, "the training images' per-channel mean", derived=True, required=True)
    std: tuple[float, ...] = setting(None, "the training images' per-channel std", derived=True, required=True)


@dataclass(frozen=True)
class MLPWidths:
    hidden: tuple[int, ...] = setting([256, 128], "Widths of the fully-connected layers, encoder side, e.g. 256 128",
                                      low=1, high=MAX_WIDTH, label="Hidden sizes")


@dataclass(frozen=True)
class ConvWidths:
    channels: tuple[int, ...] = setting([32, 64, 128, 256], "Channels of the stride-2 convolutions, e.g. 32 64 128",
                                        low=1, high=4096)


class Normalize(nn.Module):
    """Per-channel (x - mean) / std with the data set's statistics, as in the lecture's Cifar100_AE."""

    def __init__(self, mean: list[float], std: list[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).clamp_min(1e-3).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def mlp(sizes: list[int], act: type[nn.Module] = nn.ELU) -> nn.Sequential:
    """Linear layers of the given sizes with ``act`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def halvings(h: int, w: int, most: int = 4) -> int:
    """How many exact stride-2 halvings an (h, w) image takes before it gets to 4 pixels or odd."""
    n = 0
    while n < most and h % 2 == 0 and w % 2 == 0 and min(h, w) > 4:
        h, w, n = h // 2, w // 2, n + 1
    return max(n, 1) if h % 2 == 0 and w % 2 == 0 else n


class ConvEncoder(nn.Module):
    """Stride-2 conv stack (kernel 4) then a linear map to ``out_dim``."""

    def __init__(self, image_shape: tuple[int, int, int], channels: list[int], out_dim: int):
        super().__init__()
        c, h, w = image_shape
        n = halvings(h, w, len(channels))
        if n == 0:
            raise ValueError(f"conv models need even image sides, got {h}x{w}")
        layers: list[nn.Module] = []
        for cout in channels[:n]:
            layers += [nn.Conv2d(c, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]
            c = cout
        self.features = nn.Sequential(*layers)
        self.feature_shape = (c, h >> n, w >> n)
        self.head = nn.Linear(math.prod(self.feature_shape), out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


class ConvDecoder(nn.Module):
    """Mirror of ``ConvEncoder``: linear map to a feature map, then stride-2 transposed convs; logits out."""

    def __init__(self, image_shape: tuple[int, int, int], channels: list[int], in_dim: int):
        super().__init__()
        c_img, h, w = image_shape
        n = halvings(h, w, len(channels))
        chans = channels[:n][::-1]
        self.feature_shape = (chans[0], h >> n, w >> n)
        self.head = nn.Linear(in_dim, math.prod(self.feature_shape))
        layers: list[nn.Module] = []
        outs = chans[1:] + [c_img]
        for i, (cin, cout) in enumerate(zip(chans, outs)):
            layers.append(nn.ConvTranspose2d(cin, cout, 4, 2, 1))
            if i < len(outs) - 1:
                layers += [nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.features(self.head(z).view(-1, *self.feature_shape))


def padded_size(side: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is at least ``side``."""
    return -(-side // multiple) * multiple


def pad_to_multiple(x: torch.Tensor, multiple: int, value: float = 0.0) -> torch.Tensor:
    """Pad an image batch symmetrically (extra pixel right/bottom) so both sides divide by ``multiple``."""
    h, w = x.shape[-2:]
    dh, dw = padded_size(h, multiple) - h, padded_size(w, multiple) - w
    if dh == dw == 0:
        return x
    return nn.functional.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2), value=value)


def center_crop(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Undo ``pad_to_multiple``: the central h x w window."""
    top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
    return x[..., top:top + h, left:left + w]
