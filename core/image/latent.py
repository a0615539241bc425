"""Playing with a latent space: code statistics and slider axes, interpolation, traversals and
attribute vectors (the lecture's "smile vector": mean code of group A minus mean code of group B).

Codes are float32 numpy arrays (N, latent_dim); images are float tensors in [0, 1] on the CPU.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models import GenerativeModel

from ..errors import Cancelled, LatentExplorerError
from .data import ImageData

#: Latents up to this size get one slider per dimension; larger ones get sliders along principal directions.
MAX_DIM_SLIDERS = 64
#: How many principal directions large latents get.
PRINCIPAL_SLIDERS = 32
#: Slider ranges span this many standard deviations either side of the mean code.
SPAN_SIGMAS = 3.0
#: Code statistics come from at most this many items of the data set.
STATS_LIMIT = 5000
METHODS = ("linear", "spherical")
VECTORS_FORMAT = "latent-explorer-vectors/1"


@torch.no_grad()
def encode_images(model: GenerativeModel, images: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Codes of a batch of images (uint8 or float in [0, 1], (N, C, H, W))."""
    if tuple(images.shape[1:]) != model.image_shape:
        raise LatentExplorerError(f"the model takes images shaped {model.image_shape}, "
                                  f"these are {tuple(images.shape[1:])}")
    out = []
    for chunk in images.split(batch_size):
        x = chunk.float().div(255.0) if chunk.dtype == torch.uint8 else chunk.float()
        out.append(model.encode(x.to(model.device)).float().cpu())
    return torch.cat(out).numpy()


def encode_data(model: GenerativeModel, data: ImageData, indices=None, batch_size: int = 256) -> np.ndarray:
    """Codes of the data set's items at ``indices`` (default: all)."""
    idx = slice(None) if indices is None else torch.as_tensor(np.asarray(indices, dtype=np.int64))
    return encode_images(model, data.images[idx], batch_size)


@torch.no_grad()
def decode_codes(model: GenerativeModel, codes) -> torch.Tensor:
    """Images (N, C, H, W) in [0, 1] on the CPU for codes (N, latent_dim) or one code (latent_dim,)."""
    z = torch.as_tensor(np.asarray(codes, dtype=np.float32)).reshape(-1, model.latent_dim)
    return model.decode(z.to(model.device)).float().clamp(0, 1).cpu()


def reconstruct(model: GenerativeModel, images: torch.Tensor) -> torch.Tensor:
    return decode_codes(model, encode_images(model, images))


@torch.no_grad()
def sample_grid(model: GenerativeModel, n: int, temperature: float = 1.0, seed: int = 0,
                batch_size: int | None = None) -> torch.Tensor:
    """``n`` images from the model's prior, reproducible for a given seed (on the CPU), drawn ``batch_size``
    at a time (default: all at once)."""
    if not model.capabilities.samples:
        raise LatentExplorerError(f"{model.name} models have no prior to sample from")
    gen = torch.Generator(device=model.device).manual_seed(seed)
    batch_size = batch_size or n
    return torch.cat([model.sample(min(batch_size, n - i), temperature=temperature, generator=gen).float().clamp(0, 1)
                      .cpu() for i in range(0, n, batch_size)])


@torch.no_grad()
def denoise_grid(model: GenerativeModel, n: int, temperature: float = 1.0, seed: int = 0, on_step=None,
                 progress=None, cancel=None) -> torch.Tensor:
    """``sample_grid`` for a diffusion model, watched: after each DDIM step calls ``on_step(t, step, steps,
    images)`` with the predicted clean images (CPU, [0, 1]); returns the last ones, the samples. Checks
    ``cancel`` (a threading.Event) between steps and raises ``Cancelled``; ``progress(fraction, text)``
    follows the ``gui.background.jobs.Job`` protocol."""
    gen = torch.Generator(device=model.device).manual_seed(seed)
    z = model.sample_latents(n, temperature, gen)
    steps = model.sample_steps
    images = None
    for step, (t, x0) in enumerate(model.denoise_steps(z, steps, gen), start=1):
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        images = x0.float().clamp(0, 1).cpu()
        if on_step is not None:
            on_step(t, step, steps, images)
        if progress is not None:
            progress(step / steps, f"denoising step {step}/{steps} (t = {t})")
    return images


# --- slider axes ------------------------------------------------------------------------------
@dataclass
class CodeStats:
    """Where the data's codes live: their mean, and slider axes with the spread of codes along each.

    Axes are the latent dimensions themselves (latents up to ``MAX_DIM_SLIDERS``) or the top principal
    directions of the codes; ``directions`` has one orthonormal row per axis.
    """
    mean: np.ndarray  # (D,)
    directions: np.ndarray  # (K, D)
    scales: np.ndarray  # (K,) standard deviation of the codes along each axis
    labels: list[str]
    count: int  # how many codes the statistics come from; 0 means the prior N(0, I)

    @classmethod
    def from_codes(cls, codes: np.ndarray) -> "CodeStats":
        codes = np.asarray(codes, dtype=np.float64)
        if codes.ndim != 2 or len(codes) < 2:
            raise LatentExplorerError("code statistics need at least two codes")
        if not np.isfinite(codes).all():
            raise LatentExplorerError("the model produced NaN or infinite codes; is it trained?")
        n, d = codes.shape
        mean = codes.mean(0)
        if d <= MAX_DIM_SLIDERS:
            return cls(mean.astype(np.float32), np.eye(d, dtype=np.float32),
                       np.maximum(codes.std(0), 1e-6).astype(np.float32), [f"z{i}" for i in range(d)], n)
        from sklearn.decomposition import PCA
        pca = PCA(n_components=min(PRINCIPAL_SLIDERS, n - 1, d), random_state=0).fit(codes)
        return cls(mean.astype(np.float32), pca.components_.astype(np.float32),
                   np.sqrt(np.maximum(pca.explained_variance_, 1e-12)).astype(np.float32),
                   [f"PC{i + 1}" for i in range(pca.n_components_)], n)

    @classmethod
    def prior(cls, latent_dim: int) -> "CodeStats":
        """The standard-normal prior: one axis per dimension (the first ``MAX_DIM_SLIDERS`` of large latents)."""
        k = min(latent_dim, MAX_DIM_SLIDERS)
        return cls(np.zeros(latent_dim, np.float32), np.eye(latent_dim, dtype=np.float32)[:k], np.ones(k, np.float32),
                   [f"z{i}" for i in range(k)], 0)

    @property
    def latent_dim(self) -> int:
        return len(self.mean)

    def coords(self, z: np.ndarray) -> np.ndarray:
        """Slider positions of code ``z``: its offsets from the mean along each axis."""
        return (np.asarray(z, np.float32) - self.mean) @ self.directions.T

    def with_coords(self, z: np.ndarray, coords: np.ndarray) -> np.ndarray:
        """``z`` moved so that its slider positions become ``coords``; what lies off the axes is kept."""
        z = np.asarray(z, np.float32)
        return (z + (np.asarray(coords, np.float32) - self.coords(z)) @ self.directions).astype(np.float32)

    def ranges(self, span: float = SPAN_SIGMAS) -> np.ndarray:
        """(K, 2) slider limits: ``span`` standard deviations either side of the mean."""
        return np.stack([-span * self.scales, span * self.scales], axis=1)

    def random_code(self, rng: np.random.Generator) -> np.ndarray:
        """A code drawn from a Gaussian fitted to the data's codes along the axes (the prior for count 0)."""
        if self.count == 0:
            return rng.standard_normal(self.latent_dim).astype(np.float32)
        return self.with_coords(self.mean, rng.standard_normal(len(self.scales)) * self.scales)


def code_stats(model: GenerativeModel, data: ImageData | None, limit: int = STATS_LIMIT, budget_s: float = 10.0,
               seed: int = 0, batch_size: int = 128) -> CodeStats:
    """Statistics of the model's codes for up to ``limit`` random items of ``data``. Encoding stops after
    ``budget_s`` seconds (GAN and diffusion models encode by slow inversion); with fewer than 16 codes,
    or a model that cannot encode these images, the statistics are those of the prior N(0, I)."""
    if data is None or not model.capabilities.encodes or tuple(data.image_shape) != model.image_shape:
        return CodeStats.prior(model.latent_dim)
    order = np.random.default_rng(seed).permutation(len(data))[:limit]
    deadline = time.monotonic() + budget_s
    codes = []
    for start in range(0, len(order), batch_size):
        codes.append(encode_data(model, data, order[start:start + batch_size]))
        if time.monotonic() > deadline:
            break
    codes = np.concatenate(codes)
    return CodeStats.from_codes(codes) if len(codes) >= 16 else CodeStats.prior(model.latent_dim)


def traversal(stats: CodeStats, z: np.ndarray, axes: list[int], steps: int, span: float = SPAN_SIGMAS) -> np.ndarray:
    """Codes (len(axes) * steps, D): for each axis a row that sweeps it from -span to +span sigma, the
    other coordinates of ``z`` held."""
    base = stats.coords(z)
    rows = []
    for k in axes:
        for v in np.linspace(-span, span, steps) * stats.scales[k]:
            c = base.copy()
            c[k] = v
            rows.append(stats.with_coords(z, c))
    return np.stack(rows).astype(np.float32)


# --- interpolation ----------------------------------------------------------------------------
def lerp(a: np.ndarray, b: np.ndarray, t) -> np.ndarray:
    """Straight-line codes between ``a`` and ``b`` at fractions ``t`` (scalar or (T,))."""
    t = np.asarray(t, np.float64)[..., None]
    return ((1 - t) * np.asarray(a, np.float64) + t * np.asarray(b, np.float64)).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t) -> np.ndarray:
    """Spherical interpolation: the direction turns along the great circle from ``a`` to ``b`` while the
    norm goes linearly from |a| to |b|, so the path does not cut through the low-density middle of a
    Gaussian latent the way a straight line does. Parallel or zero codes fall back to ``lerp``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    t = np.asarray(t, np.float64)[..., None]
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-12 or nb < 1e-12:
        return lerp(a, b, t[..., 0])
    ua, ub = a / na, b / nb
    omega = math.acos(float(np.clip(ua @ ub, -1.0, 1.0)))
    if omega < 1e-6:
        return lerp(a, b, t[..., 0])
    if math.pi - omega < 1e-6:  # opposite codes: no unique great circle; turn through any perpendicular
        perp = np.eye(len(ua))[np.argmin(np.abs(ua))]
        perp -= (perp @ ua) * ua
        ub_half = perp / np.linalg.norm(perp)
        direction = np.where(t <= 0.5, _arc(ua, ub_half, math.pi / 2, 2 * t), _arc(ub_half, ub, math.pi / 2, 2 * t - 1))
    else:
        direction = _arc(ua, ub, omega, t)
    return (((1 - t) * na + t * nb) * direction).astype(np.float32)


def _arc(ua: np.ndarray, ub: np.ndarray, omega: float, t: np.ndarray) -> np.ndarray:
    return (np.sin((1 - t) * omega) * ua + np.sin(t * omega) * ub) / math.sin(omega)


def interpolate(a: np.ndarray, b: np.ndarray, steps: int, method: str = "linear") -> np.ndarray:
    """``steps`` codes from ``a`` to ``b`` inclusive, ``linear`` or ``spherical``."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if steps < 2:
        raise ValueError("an interpolation needs at least 2 steps")
    return (lerp if method == "linear" else slerp)(a, b, np.linspace(0.0, 1.0, steps))


def morph(a: np.ndarray, b: np.ndarray, t: float, method: str = "linear") -> np.ndarray:
    """The one code a fraction ``t`` of the way from ``a`` to ``b``."""
    return (lerp if method == "linear" else slerp)(a, b, float(t))


# --- attribute vectors ------------------------------------------------------------------------
@dataclass
class AttributeVector:
    """A named direction in latent space, tied to the checkpoint whose codes it was made from."""
    name: str
    vector: np.ndarray  # (D,)
    description: str = ""  # how it was made, e.g. "label 8 (n=180) - label 3 (n=183)"
    checkpoint: str = ""  # path of the checkpoint it belongs to ('' for a model never saved)
    fingerprint: str = ""  # model_fingerprint of that model

    def to_json(self) -> dict:
        return {"name": self.name, "description": self.description, "checkpoint": self.checkpoint,
                "fingerprint": self.fingerprint, "vector": [float(v) for v in self.vector]}


def attribute_vector(codes_a: np.ndarray, codes_b: np.ndarray) -> np.ndarray:
    """Mean code of group A minus mean code of group B."""
    if len(codes_a) == 0 or len(codes_b) == 0:
        raise LatentExplorerError("both groups need at least one item")
    return (np.asarray(codes_a, np.float64).mean(0) - np.asarray(codes_b, np.float64).mean(0)).astype(np.float32)


def apply_vector(z: np.ndarray, vector: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Code(s) ``z`` moved by ``strength`` times the attribute vector."""
    return (np.asarray(z, np.float32) + np.float32(strength) * np.asarray(vector, np.float32)).astype(np.float32)


def model_fingerprint(model: GenerativeModel) -> str:
    """A short hash of the model's name, config and weights: which model a saved vector belongs to."""
    h = hashlib.sha1(json.dumps({"name": model.name, "config": model.config}, sort_keys=True).encode())
    for key, value in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def save_vectors(path: Path, vectors: list[AttributeVector]) -> Path:
    """Write named attribute vectors to a JSON file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": VECTORS_FORMAT, "vectors": [v.to_json() for v in vectors]}, indent=1),
                    encoding="utf-8")
    return path


def load_vectors(path: Path, latent_dim: int | None = None) -> list[AttributeVector]:
    """Read attribute vectors written by ``save_vectors``; checks their size against ``latent_dim``."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise LatentExplorerError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LatentExplorerError(f"{path}: not a readable vectors file ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != VECTORS_FORMAT or not isinstance(doc.get("vectors"), list):
        raise LatentExplorerError(f"{path}: not a Latent Explorer vectors file (expected format {VECTORS_FORMAT})")
    out = []
    for i, item in enumerate(doc["vectors"]):
        try:
            vector = np.asarray(item["vector"], dtype=np.float32)
            v = AttributeVector(str(item["name"]), vector, str(item.get("description", "")),
                                str(item.get("checkpoint", "")), str(item.get("fingerprint", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise LatentExplorerError(f"{path}: vector {i + 1} is malformed ({exc})") from exc
        if vector.ndim != 1 or not np.isfinite(vector).all():
            raise LatentExplorerError(f"{path}: vector {v.name!r} is not a finite 1-D list of numbers")
        if latent_dim is not None and len(vector) != latent_dim:
            raise LatentExplorerError(f"{path}: vector {v.name!r} has {len(vector)} dimensions, the model's latent "
                                      f"has {latent_dim}")
        out.append(v)
    return out
