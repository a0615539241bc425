"""A Glow-style normalising flow (Kingma & Dhariwal 2018; RealNVP, Dinh et al. 2017): exact likelihood.

The 8-bit image is dequantised (uniform noise in training, the bin centre in ``encode``), mapped to
logit space, then passed through ``levels`` scales. Each scale squeezes 2x2 pixels into channels and
applies ``steps`` of ActNorm -> invertible 1x1 convolution -> affine coupling; after every scale but
the last, half of the channels leave as latent variables (multi-scale). Glow's learned prior
(``learned_prior``) draws those given the half that goes on, and the last scale's with a mean and scale each.
Every piece is invertible with a cheap log-determinant, so log p(x) is exact and ``decode(encode(x)) == x`` up
to float rounding.
The latent code is all of those variables, flattened: as many numbers as the image has pixels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import GenerativeModel
from .ema import AveragedSettings
from .family import Capabilities, Family, ImageSettings, SettingError, setting


@dataclass(frozen=True)
class FlowSettings(AveragedSettings, ImageSettings):
    levels: int = setting(3, "Scales (each squeezes 2x2 pixels into channels; capped by how often the image halves)",
                          low=1, high=8)
    steps: int = setting(8, "Flow steps (ActNorm, 1x1 convolution, affine coupling) per scale", low=1, high=64)
    top_steps: int = setting(0, "Flow steps of the last scale, which draws the coarse shape: on a quarter of the "
                                "pixels of the one before, its steps are cheap (0: as many as the others)",
                             low=0, high=64, legacy=0, label="Flow steps, last scale")
    hidden: int = setting(64, "Channels of each coupling's network", low=1, high=4096, label="Hidden width")
    alpha: float = setting(1e-4, "Margin of the logit transform of the pixels (RealNVP: 0.05 for photographs, "
                                 "1e-6 for MNIST, where a small one spreads the black background out to learn)",
                           low=1e-6, high=0.49)
    scale_bound: float = setting(2.0, "Each coupling scales by at most e^bound either way (a soft bound, as in "
                                      "FrEIA), so a sample cannot overflow; 0: Glow's unbounded sigmoid(. + 2)",
                                 low=0.0, high=10.0, legacy=0.0, label="Coupling scale bound")
    learned_prior: bool = setting(True, "Glow's learned prior: the variables a scale sets aside are drawn given the "
                                        "half that goes on, the last scale's each with a mean and scale of its own "
                                        "(off: all N(0, 1))", legacy=False, label="Learned prior")
    temperature: float = setting(1.0, "Scale of the prior's noise when sampling (Glow samples photographs at 0.7: "
                                      "sharper, less varied; on MNIST that leaves strokes out)", low=0.0, high=10.0,
                                 label="Sampling temperature")
    detail_temperature: float = setting(1.0, "The noise of the variables the finer scales set aside (strokes' "
                                             "detail) relative to the sampling temperature: below 1 draws cleaner "
                                             "strokes around the same shapes", low=0.0, high=10.0, legacy=1.0,
                                        label="Detail temperature")

    def check(self):
        if max_levels(*self.image_shape[1:]) < 1:
            raise SettingError(f"the flow needs even image sides (e.g. 28x28 or 32x32), got "
                               f"{self.image_shape[1]}x{self.image_shape[2]}")


def squeeze(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, 4C, H/2, W/2): each 2x2 block of pixels becomes 4 channels."""
    n, c, h, w = x.shape
    return x.view(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(n, 4 * c, h // 2, w // 2)


def unsqueeze(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.view(n, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c // 4, 2 * h, 2 * w)


class ActNorm(nn.Module):
    """Per-channel affine map, initialised from the first training batch to zero mean, unit variance."""

    def __init__(self, channels: int):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(False))

    def forward(self, x):
        if self.training and not self.initialized:
            with torch.no_grad():
                self.loc.copy_(-x.mean(dim=(0, 2, 3), keepdim=True))
                self.log_scale.copy_(-x.std(dim=(0, 2, 3), keepdim=True).add(1e-6).log())
                self.initialized.fill_(True)
        logdet = self.log_scale.sum() * x.shape[2] * x.shape[3]
        return (x + self.loc) * self.log_scale.exp(), logdet.expand(len(x))

    def inverse(self, y):
        return y * (-self.log_scale).exp() - self.loc


class InvertibleConv1x1(nn.Module):
    """A learned channel mixing (a random rotation at first); log|det| = H W log|det W|."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.linalg.qr(torch.randn(channels, channels))[0])

    def forward(self, x):
        logdet = torch.linalg.slogdet(self.weight)[1] * x.shape[2] * x.shape[3]
        return F.conv2d(x, self.weight[:, :, None, None]), logdet.expand(len(x))

    def inverse(self, y):
        inverse = torch.linalg.inv(self.weight.double()).to(y.dtype)
        return F.conv2d(y, inverse[:, :, None, None])


def soft_bound(x: torch.Tensor, bound: float) -> torch.Tensor:
    """x squashed smoothly into (-bound, bound) (about x near 0): a log-scale that cannot overflow."""
    return bound * torch.tanh(x / bound)


PRIOR_BOUND = 2.0  # a learned prior scales each variable by at most e^2 either way


class AffineCoupling(nn.Module):
    """y_b = (x_b + t(x_a)) * s(x_a), y_a = x_a, with log s = bound * tanh(. / bound): at most e^bound either way,
    so the inverse of a sample far from the data cannot overflow to inf (and NaN); starts as the identity.
    ``bound`` 0: Glow's s = sigmoid(. + 2), which can contract without limit (and so expand when sampling)."""

    def __init__(self, channels: int, hidden: int, bound: float):
        super().__init__()
        self.split, self.bound = channels // 2, bound
        out = nn.Conv2d(hidden, 2 * (channels - self.split), 3, padding=1)
        nn.init.zeros_(out.weight)
        nn.init.zeros_(out.bias)
        self.net = nn.Sequential(nn.Conv2d(self.split, hidden, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(hidden, hidden, 1), nn.ReLU(), out)

    def _scale_shift(self, xa):
        raw_scale, shift = self.net(xa).chunk(2, dim=1)
        if self.bound:
            return soft_bound(raw_scale, self.bound), shift
        return F.logsigmoid(raw_scale + 2.0), shift

    def forward(self, x):
        xa, xb = x[:, :self.split], x[:, self.split:]
        log_s, t = self._scale_shift(xa)
        return torch.cat([xa, (xb + t) * log_s.exp()], dim=1), log_s.flatten(1).sum(1)

    def inverse(self, y):
        ya, yb = y[:, :self.split], y[:, self.split:]
        log_s, t = self._scale_shift(ya)
        return torch.cat([ya, yb * (-log_s).exp() - t], dim=1)


class SplitPrior(nn.Module):
    """Glow's prior for the variables a scale sets aside: z ~ N(mu(h), sigma(h)^2) given the half h that goes on,
    written as the map z -> (z - mu) / sigma, so the code stays N(0, I); starts as the identity."""

    def __init__(self, channels: int):
        super().__init__()
        self.net = nn.Conv2d(channels, 2 * channels, 3, padding=1)
        nn.init.zeros_(self.net.weight)
        nn.init.zeros_(self.net.bias)

    def _mean_log_scale(self, h):
        mean, log_scale = self.net(h).chunk(2, dim=1)
        return mean, soft_bound(log_scale, PRIOR_BOUND)

    def forward(self, z, h):
        mean, log_scale = self._mean_log_scale(h)
        return (z - mean) * (-log_scale).exp(), -log_scale.flatten(1).sum(1)

    def inverse(self, z, h):
        mean, log_scale = self._mean_log_scale(h)
        return z * log_scale.exp() + mean


class TopPrior(nn.Module):
    """Glow's learned prior of the last scale's variables: a mean and scale for each of them (a digit's border
    is dark, its middle is not), written as a map to N(0, I); starts as the identity."""

    def __init__(self, shape: tuple[int, int, int]):
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(1, *shape))
        self.log_scale = nn.Parameter(torch.zeros(1, *shape))

    def forward(self, z):
        log_scale = soft_bound(self.log_scale, PRIOR_BOUND)
        return (z - self.mean) * (-log_scale).exp(), (-log_scale.sum()).expand(len(z))

    def inverse(self, z):
        return z * soft_bound(self.log_scale, PRIOR_BOUND).exp() + self.mean


class FlowStep(nn.Module):
    def __init__(self, channels: int, hidden: int, bound: float):
        super().__init__()
        self.layers = nn.ModuleList([ActNorm(channels), InvertibleConv1x1(channels),
                                     AffineCoupling(channels, hidden, bound)])

    def forward(self, x):
        total = 0
        for layer in self.layers:
            x, logdet = layer(x)
            total = total + logdet
        return x, total

    def inverse(self, y):
        for layer in reversed(self.layers):
            y = layer.inverse(y)
        return y


def max_levels(h: int, w: int) -> int:
    """How many 2x2 squeezes an h x w image allows."""
    n = 0
    while h % 2 == 0 and w % 2 == 0 and min(h, w) > 1:
        h, w, n = h // 2, w // 2, n + 1
    return n


class GlowFlow(GenerativeModel):
    """Models the 8-bit pixel values themselves (no data statistics needed). The code has as many numbers as
    the image has pixels."""
    Settings = FlowSettings
    capabilities = Capabilities(encodes=True, decodes=True, samples=True, reconstructs=True, likelihood="exact")

    def __init__(self, settings: FlowSettings | None = None, **values):
        super().__init__(settings, **values)
        c, h, w = self.image_shape
        levels = min(self.settings.levels, max_levels(h, w))  # 28x28: 2
        if levels != self.settings.levels:
            self.settings = self.settings.replace(levels=levels)
        steps, hidden = self.settings.steps, self.settings.hidden
        self.latent_dim = c * h * w
        self.alpha = self.settings.alpha
        self.scales, self.priors = nn.ModuleList(), nn.ModuleList()
        self.latent_shapes: list[tuple[int, int, int]] = []
        for i in range(levels):
            c, h, w = 4 * c, h // 2, w // 2
            n = self.settings.top_steps if i == levels - 1 and self.settings.top_steps else steps
            self.scales.append(nn.ModuleList([FlowStep(c, hidden, self.settings.scale_bound) for _ in range(n)]))
            if i < levels - 1:
                self.latent_shapes.append((c // 2, h, w))
                c //= 2
                if self.settings.learned_prior:
                    self.priors.append(SplitPrior(c))
        self.latent_shapes.append((c, h, w))
        if self.settings.learned_prior:
            self.priors.append(TopPrior((c, h, w)))
        self.keep_average("scales", "priors")

    # --- the bijection ------------------------------------------------------------------------
    def _to_logits(self, x: torch.Tensor, dequantize: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """8-bit levels in [0, 1] -> continuous y in [0, 1) (uniform noise or bin centre) -> logit space."""
        y = (x * 255 + (torch.rand_like(x) if dequantize else 0.5)) / 256
        p = self.alpha + (1 - 2 * self.alpha) * y
        logdet = (math.log(1 - 2 * self.alpha) - p.log() - (-p).log1p()).flatten(1).sum(1)
        return p.log() - (-p).log1p(), logdet

    def _from_logits(self, v: torch.Tensor) -> torch.Tensor:
        y = (torch.sigmoid(v) - self.alpha) / (1 - 2 * self.alpha)
        return ((y * 256 - 0.5) / 255).clamp(0, 1)

    def _forward(self, x: torch.Tensor, dequantize: bool) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Image -> latent parts (finest scale first) and log|det| of the whole map from y."""
        h, logdet = self._to_logits(x, dequantize)
        parts, priors = [], self.sampling("priors")
        for i, scale in enumerate(self.sampling("scales")):
            h = squeeze(h)
            for step in scale:
                h, ld = step(h)
                logdet = logdet + ld
            if i < len(self.scales) - 1:
                z, h = h.chunk(2, dim=1)
                if priors:
                    z, ld = priors[i](z, h)
                    logdet = logdet + ld
                parts.append(z)
        if priors:
            h, ld = priors[-1](h)
            logdet = logdet + ld
        parts.append(h)
        return parts, logdet

    def encode(self, x):
        return torch.cat([p.flatten(1) for p in self._forward(x, dequantize=False)[0]], dim=1)

    def decode(self, z):
        sizes = [math.prod(s) for s in self.latent_shapes]
        parts = [p.reshape(-1, *s) for p, s in zip(z.split(sizes, dim=1), self.latent_shapes)]
        scales, priors = self.sampling("scales"), self.sampling("priors")
        h = priors[-1].inverse(parts[-1]) if priors else parts[-1]
        for i in reversed(range(len(scales))):
            if i < len(scales) - 1:
                h = torch.cat([priors[i].inverse(parts[i], h) if priors else parts[i], h], dim=1)
            for step in reversed(scales[i]):
                h = step.inverse(h)
            h = unsqueeze(h)
        return self._from_logits(h)

    def sample_latents(self, n: int, temperature: float = 1.0,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, T^2 I), T = temperature x the family's sampling temperature; the finer scales' variables (the
        code's head) at T x the detail temperature."""
        z = super().sample_latents(n, temperature * self.settings.temperature, generator)
        detail = self.latent_dim - math.prod(self.latent_shapes[-1])
        z[:, :detail] *= self.settings.detail_temperature
        return z

    # --- likelihood ---------------------------------------------------------------------------
    def bits_per_dim(self, x: torch.Tensor) -> torch.Tensor:
        """Per image -log2 p(x) / dims for 8-bit data (dequantised: an upper bound, tight in practice)."""
        parts, logdet = self._forward(x, dequantize=True)
        log_pz = sum(-0.5 * (p.pow(2) + math.log(2 * math.pi)).flatten(1).sum(1) for p in parts)
        dims = math.prod(self.image_shape)
        return (-(log_pz + logdet) / dims + math.log(256)) / math.log(2)

    def loss(self, x):
        bpd = self.bits_per_dim(x).mean()
        return {"bits_per_dim": bpd, "total": bpd}


FLOW = Family("flow", GlowFlow, "Normalising flow (Glow): exact likelihood", lr=2e-3,
              tiny={"levels": 2, "steps": 2, "hidden": 16}, kind="Normalising flow")
