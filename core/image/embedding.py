"""The embedding map's engine: encode a whole data set through a model (batched, with progress and
cancel), cache the codes, project them to the plane, and answer questions about one item: its nearest
neighbours by latent distance, its reconstruction, and for VAEs the spread of decodes sampled from q(z|x).
Models that sample can instead be mapped by generated samples: z drawn from the prior, decoded, and the z
codes mapped with the generated images (a GAN's encoder is slow inversion by optimisation).

Without a model the map is of pixel space (the images' first principal components), a baseline that
shows what a model adds. Codes and maps are cached on disk by content: a model's codes by the hash of
its weights and of the images, a map by the hash of its codes and method.
"""
from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from models import GenerativeModel

from ..errors import Cancelled, LatentExplorerError
from .cache import ArrayCache
from .data import ImageData
from .latent import decode_codes, encode_images, model_fingerprint
from .projection import INPUT_DIM, METHODS, project

Progress = Callable[[float, str], None]
ENCODE_BATCH = 256
#: Pixel-space maps fit their PCA on at most this many images.
PIXEL_PCA_SAMPLE = 5000
#: Decodes drawn from q(z|x) for the uncertainty picture.
SPREAD_SAMPLES = 32
#: How many prior draws a map of generated samples shows by default.
GENERATED_SAMPLES = 2000


@dataclass
class Embedding:
    """A data set's codes and their 2-D map."""
    codes: np.ndarray  # (N, D) float32: latent codes, or pixel principal components
    coords: np.ndarray  # (N, 2) float32
    method: str  # a key of projection.METHODS
    space: str  # "latent", "pixels" or "generated"
    images: torch.Tensor | None = None  # uint8 (N, C, H, W) generated images ("generated" space only)


def _no_progress(_fraction: float, _text: str) -> None:
    pass


def duration_text(seconds: float) -> str:
    """A duration for people: "40 s", "2 min 10 s", "1 h 5 min"."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    return f"{s // 3600} h {s // 60 % 60} min"


class Eta:
    """Time left of a job that is ``fraction`` done, from the time it has taken so far."""

    def __init__(self):
        self.start = time.monotonic()

    def seconds_left(self, fraction: float) -> float | None:
        if fraction <= 0:
            return None
        return (time.monotonic() - self.start) * (1 - fraction) / fraction

    def text(self, fraction: float) -> str:
        """", about 2 min left" (nothing at the start or the end)."""
        left = self.seconds_left(fraction)
        return f", about {duration_text(left)} left" if left is not None and fraction < 1 else ""


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()


def data_fingerprint(data: ImageData) -> str:
    """A short hash of the images: which data set a cached code array belongs to."""
    h = hashlib.sha1(str(tuple(data.images.shape)).encode())
    h.update(memoryview(np.ascontiguousarray(data.images.numpy())).cast("B"))  # (no copy of the images)
    return h.hexdigest()[:16]


def class_names(data: ImageData) -> list[str]:
    """One name per class index: the data's class names, else the index as text (none without labels)."""
    if data.labels is None:
        return []
    names = list(data.class_names or [])
    return names + [str(i) for i in range(len(names), int(data.labels.max()) + 1)]


def label_names(data: ImageData) -> list[str]:
    """Each item's label as text (its class name when there is one); empty strings without labels."""
    if data.labels is None:
        return [""] * len(data)
    names = class_names(data)
    return [names[i] for i in data.labels.tolist()]


# --- codes ------------------------------------------------------------------------------------
def encode_dataset(model: GenerativeModel, data: ImageData, *, batch_size: int = ENCODE_BATCH,
                   progress: Progress | None = None, cancel: threading.Event | None = None) -> np.ndarray:
    """Codes (N, latent_dim) float32 of every item, in batches (a VAE gives the mean of q(z|x))."""
    report = progress or _no_progress
    if not model.capabilities.encodes:
        raise LatentExplorerError(f"{model.name} models have no encoder: there is no latent code to map")
    if tuple(data.image_shape) != tuple(model.image_shape):
        raise LatentExplorerError(f"the model takes images shaped {tuple(model.image_shape)}, the data set "
                                  f"{data.name} has {tuple(data.image_shape)}")
    was_training = model.training
    model.eval()
    parts, n, eta = [], len(data), Eta()
    try:
        for start in range(0, n, batch_size):
            _check(cancel)
            parts.append(encode_images(model, data.images[start:start + batch_size], batch_size))
            done = min(start + batch_size, n)
            report(done / n, f"encoding: {done:,} of {n:,} images{eta.text(done / n)}")
    finally:
        model.train(was_training)
    codes = np.concatenate(parts).astype(np.float32)
    if not np.isfinite(codes).all():
        raise LatentExplorerError("the model's codes contain NaN or infinite values: did its training diverge?")
    return codes


def cached_codes(model: GenerativeModel, data: ImageData, cache_dir: Path | None, **kw) -> np.ndarray:
    """``encode_dataset``, through a cache under ``cache_dir/codes`` (None: no cache)."""
    cache = ArrayCache(Path(cache_dir) / "codes") if cache_dir is not None else None
    key = f"{model_fingerprint(model)}-{data_fingerprint(data)}"
    codes = cache.get(key) if cache else None
    if codes is not None and codes.shape[0] == len(data):
        (kw.get("progress") or _no_progress)(1.0, "codes from the cache")
        return codes
    codes = encode_dataset(model, data, **kw)
    if cache:
        cache.put(key, codes)
    return codes


@torch.no_grad()
def generate_samples(model: GenerativeModel, n: int = GENERATED_SAMPLES, *, temperature: float = 1.0, seed: int = 0,
                     batch_size: int = ENCODE_BATCH, progress: Progress | None = None,
                     cancel: threading.Event | None = None) -> tuple[np.ndarray, torch.Tensor]:
    """``n`` codes z (n, latent_dim) float32 drawn from the prior (reproducible by ``seed``) and their
    decodes as uint8 images (n, C, H, W), decoded in batches with progress and cancel."""
    report = progress or _no_progress
    if not model.capabilities.samples:
        raise LatentExplorerError(f"{model.name} models have no prior to sample from")
    gen = torch.Generator(device=model.device).manual_seed(seed)
    z = model.sample_latents(n, temperature, gen)
    was_training = model.training
    model.eval()
    out, eta = torch.empty((n, *model.image_shape), dtype=torch.uint8), Eta()  # filled batch by batch: no copies
    try:
        for start in range(0, n, batch_size):
            _check(cancel)
            images = model.decode(z[start:start + batch_size]).float().clamp(0, 1)
            out[start:start + len(images)] = images.mul(255).round().byte().cpu()
            done = min(start + batch_size, n)
            report(done / n, f"generating: {done:,} of {n:,} samples{eta.text(done / n)}")
    finally:
        model.train(was_training)
    codes = z.float().cpu().numpy()
    if not np.isfinite(codes).all():
        raise LatentExplorerError("the prior draws contain NaN or infinite values")
    return codes, out


def pixel_codes(data: ImageData, dim: int = INPUT_DIM, seed: int = 0) -> np.ndarray:
    """The images' first ``dim`` principal components (fitted on a sample): the map's pixel space."""
    n = len(data)
    fit_idx = np.sort(np.random.default_rng(seed).permutation(n)[:PIXEL_PCA_SAMPLE])
    sample = data.float_images(torch.from_numpy(fit_idx)).flatten(1).numpy()
    if sample.shape[1] <= dim:
        return data.float_images().flatten(1).numpy()
    from sklearn.decomposition import PCA
    model = PCA(dim, random_state=seed).fit(sample)
    return np.concatenate([model.transform(data.float_images(slice(s, s + 4096)).flatten(1).numpy())
                           for s in range(0, n, 4096)]).astype(np.float32)


# --- the map ----------------------------------------------------------------------------------
def compute_map(model: GenerativeModel | None, data: ImageData, method: str = "umap", *, seed: int | None = None,
                cache_dir: Path | None = None, progress: Progress | None = None, cancel: threading.Event | None = None,
                isolate: bool = True, batch_size: int = ENCODE_BATCH) -> Embedding:
    """Codes of every item (the model's, or pixel space without a model) and their map by ``method``.

    Both are cached under ``cache_dir`` (None: nothing is cached); see ``projection.project`` for
    ``seed``, ``isolate`` and the progress and cancel protocol.
    """
    if method not in METHODS:
        raise LatentExplorerError(f"unknown projection {method!r}; choose from {', '.join(METHODS)}")
    report = progress or _no_progress
    if model is None:
        report(-1.0, "pixel space: principal components")
        codes, space = pixel_codes(data), "pixels"
    else:
        codes, space = cached_codes(model, data, cache_dir, batch_size=batch_size, progress=report,
                                    cancel=cancel), "latent"
    return project_codes(codes, space, method, seed=seed, cache_dir=cache_dir, progress=report, cancel=cancel,
                         isolate=isolate)


def project_codes(codes: np.ndarray, space: str, method: str, *, seed: int | None = None,
                  cache_dir: Path | None = None, progress: Progress | None = None,
                  cancel: threading.Event | None = None, isolate: bool = True,
                  images: torch.Tensor | None = None) -> Embedding:
    """The map of ``codes`` by ``method``, cached under ``cache_dir/maps`` by the codes' hash."""
    report = progress or _no_progress
    _check(cancel)
    cache = ArrayCache(Path(cache_dir) / "maps") if cache_dir is not None else None
    key = hashlib.sha1(f"{method}-{seed}-{codes.shape}".encode() + codes.tobytes()).hexdigest()[:24]
    coords = cache.get(key) if cache else None
    if coords is None or coords.shape != (len(codes), 2):
        coords = project(codes, method, seed=seed, progress=report, cancel=cancel, isolate=isolate)
        if cache:
            cache.put(key, coords)
    return Embedding(codes, coords, method, space, images)


def compute_generated_map(model: GenerativeModel, method: str = "umap", n: int = GENERATED_SAMPLES, *,
                          temperature: float = 1.0, seed: int = 0, cache_dir: Path | None = None,
                          progress: Progress | None = None, cancel: threading.Event | None = None,
                          isolate: bool = True, batch_size: int = ENCODE_BATCH) -> Embedding:
    """The map of ``n`` generated samples: their prior codes z projected by ``method``, with the
    generated images in ``Embedding.images`` (space "generated")."""
    if method not in METHODS:
        raise LatentExplorerError(f"unknown projection {method!r}; choose from {', '.join(METHODS)}")
    codes, images = generate_samples(model, n, temperature=temperature, seed=seed, batch_size=batch_size,
                                     progress=progress, cancel=cancel)
    return project_codes(codes, "generated", method, seed=seed, cache_dir=cache_dir, progress=progress,
                         cancel=cancel, isolate=isolate, images=images)


def generated_data(embedding: Embedding) -> ImageData:
    """The images of a map of generated samples as an (unlabelled) data set, e.g. to export them."""
    return ImageData("generated samples", embedding.images)


def knn_accuracy(coords: np.ndarray, labels: np.ndarray, train_idx: np.ndarray, test_idx: np.ndarray,
                 k: int = 5) -> float:
    """How well the map separates classes: accuracy of a k-NN classifier fitted on the map positions of
    ``train_idx`` and scored on those of ``test_idx``."""
    from sklearn.neighbors import KNeighborsClassifier
    clf = KNeighborsClassifier(n_neighbors=min(k, len(train_idx))).fit(coords[train_idx], labels[train_idx])
    return float(clf.score(coords[test_idx], labels[test_idx]))


# --- one item ---------------------------------------------------------------------------------
def nearest_neighbours(codes: np.ndarray, index: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` items whose codes are nearest to item ``index``'s (Euclidean), nearest first, and their
    distances; the item itself is left out."""
    d = np.square(codes - codes[index]).sum(axis=1)
    d[index] = np.inf
    k = min(k, len(codes) - 1)
    if k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    nearest = np.argpartition(d, k - 1)[:k]
    nearest = nearest[np.argsort(d[nearest], kind="stable")]
    return nearest.astype(np.int64), np.sqrt(d[nearest]).astype(np.float32)


@torch.no_grad()
def decode_spread(model: GenerativeModel, image: torch.Tensor, samples: int = SPREAD_SAMPLES,
                  seed: int = 0) -> np.ndarray | None:
    """Per-pixel standard deviation (H, W) of decodes of codes drawn from q(z|x) for one uint8 image
    (1, C, H, W): where the model is unsure. None for models without a posterior (not VAEs)."""
    if not model.capabilities.posterior:
        return None
    x = image.float().div(255.0).to(model.device)
    mu, logvar = model.posterior(x)
    gen = torch.Generator(device=mu.device).manual_seed(seed)
    eps = torch.randn((samples, mu.shape[1]), generator=gen, device=mu.device)
    decodes = model.decode(mu + eps * (0.5 * logvar).exp())
    return decodes.float().std(dim=0).mean(dim=0).cpu().numpy()


@dataclass
class ItemView:
    """What the inspector shows for one item."""
    index: int
    original: np.ndarray  # uint8 (C, H, W)
    neighbours: np.ndarray  # indices, nearest first
    distances: np.ndarray
    code: np.ndarray | None = None  # the latent code (None in pixel space)
    reconstruction: np.ndarray | None = None  # uint8 (C, H, W), decoded from the code
    spread: np.ndarray | None = None  # (H, W) std of decodes sampled from q(z|x) (VAEs)


def inspect_item(model: GenerativeModel | None, data: ImageData, embedding: Embedding, index: int,
                 k: int = 8) -> ItemView:
    """Everything about item ``index`` the inspector shows; the model parts only in latent space. A
    generated sample shows its image, its z and its nearest generated samples by z."""
    neighbours, distances = nearest_neighbours(embedding.codes, index, k)
    if embedding.space == "generated":
        return ItemView(index, embedding.images[index].numpy(), neighbours, distances,
                        code=embedding.codes[index].copy())
    view = ItemView(index, data.images[index].numpy(), neighbours, distances)
    if model is not None and embedding.space == "latent":
        was_training = model.training
        model.eval()
        try:
            view.code = embedding.codes[index].copy()
            view.reconstruction = (decode_codes(model, view.code)[0] * 255).round().byte().numpy()
            view.spread = decode_spread(model, data.images[index:index + 1])
        finally:
            model.train(was_training)
    return view


# --- selections -------------------------------------------------------------------------------
def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Boolean mask of the (N, 2) ``points`` inside the (M, 2) ``polygon`` (even-odd rule; closed
    implicitly). The points in its bounding box are sorted by y once; each edge then toggles only the
    points in its band of y, so a long lasso costs about as much as a short one."""
    pts = np.asarray(points, np.float64)
    poly = np.asarray(polygon, np.float64)
    inside = np.zeros(len(pts), bool)
    if len(poly) < 3:
        return inside
    lo, hi = poly.min(axis=0), poly.max(axis=0)
    box = np.flatnonzero(((pts >= lo) & (pts <= hi)).all(axis=1))
    box = box[np.argsort(pts[box, 1], kind="stable")]
    x, y = pts[box, 0], pts[box, 1]
    hit = np.zeros(len(box), bool)
    for (x1, y1), (x2, y2) in zip(poly, np.roll(poly, -1, axis=0)):
        if y1 == y2:
            continue  # a horizontal edge crosses no point's ray
        start, end = np.searchsorted(y, min(y1, y2), "left"), np.searchsorted(y, max(y1, y2), "left")
        at = x1 + (y[start:end] - y1) * (x2 - x1) / (y2 - y1)
        hit[start:end] ^= x[start:end] < at
    inside[box] = hit
    return inside
