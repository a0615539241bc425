"""Comparing trained generative models on one data set: the "generative learning trilemma", measured.

- sample quality: Fréchet distance between features of real and generated images, the features being the
  penultimate layer of a small classifier the app trains on the data set (cached per data set), plus
  Inception FID when torchvision's Inception weights are on this machine; precision (Kynkäänniemi et al.
  2019: the share of samples that fall on the real images' feature manifold);
- diversity: recall (the share of real images on the samples' manifold), the entropy of the classifier's
  predicted labels over the samples (1 = every class equally often) and how many classes appear;
- likelihood: bits/dim on validation images, exact for flows, an upper bound (the negative ELBO) for
  Gaussian VAEs;
- speed: sampling time per image (measured here), training time (from the checkpoint's metrics).
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models import GenerativeModel, family

from ..errors import Cancelled, LatentExplorerError
from ..train.checkpoint import load_checkpoint, read_checkpoint
from .cache import cache_root
from .data import ImageData

CLASSIFIER_FORMAT = "latent-explorer-classifier/1"
INCEPTION_FILE = "inception_v3_google-0cc3c7bd.pth"  # torchvision's Inception v3 weights, in torch's hub cache
K_NEAREST = 3  # neighbourhood size of the precision/recall manifolds
REFERENCE_LIMIT = 2000  # real images whose features stand for the data set
Progress = Callable[[str, float], None]  # (message, fraction done)


# --- the feature classifier ------------------------------------------------------------------
class FeatureClassifier(nn.Module):
    """A small CNN; its pooled last conv layer (``4 * width`` numbers) is the feature space."""

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, width: int = 32):
        super().__init__()
        c = image_shape[0]
        self.features = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.BatchNorm2d(4 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(4 * width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x * 2 - 1))

    @torch.no_grad()
    def embed(self, images: torch.Tensor, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
        """(features, predicted labels) of float images in [0, 1] or uint8 images."""
        self.eval()
        feats, labels = [], []
        for chunk in images.split(batch_size):
            x = chunk.float().div(255.0) if chunk.dtype == torch.uint8 else chunk.float()
            f = self.features(x * 2 - 1)
            feats.append(f.double().numpy())
            labels.append(self.head(f).argmax(1).numpy())
        return np.concatenate(feats), np.concatenate(labels)


@dataclass
class Classifier:
    model: FeatureClassifier
    accuracy: float  # on the held-out 10 % of the data set
    num_classes: int


def data_fingerprint(data: ImageData) -> str:
    """A hash of the images and labels: the classifier cache key."""
    h = hashlib.sha1(str(tuple(data.images.shape)).encode())
    h.update(data.images.numpy().tobytes())
    h.update(np.asarray(data.labels, dtype=np.int64).tobytes())
    return h.hexdigest()[:20]


def classifier_path(data: ImageData) -> Path:
    return cache_root() / "classifiers" / f"{data_fingerprint(data)}.pt"


def _load_cached(path: Path, data: ImageData) -> Classifier | None:
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model = FeatureClassifier(tuple(saved["image_shape"]), int(saved["num_classes"]), int(saved["width"]))
        model.load_state_dict(saved["state_dict"])
    except Exception:  # missing, damaged or from an older version: train again
        return None
    if saved.get("format") != CLASSIFIER_FORMAT or tuple(saved["image_shape"]) != tuple(data.image_shape):
        return None
    return Classifier(model.eval(), float(saved["accuracy"]), int(saved["num_classes"]))


def _require_labels(data: ImageData) -> None:
    if data.labels is None:
        raise LatentExplorerError(f"{data.name} has no labels: the comparison needs them to train its feature "
                                  "classifier (use a labelled set, or an image folder with one sub-folder per class)")


def train_classifier(data: ImageData, epochs: int = 8, batch_size: int = 128, seed: int = 0,
                     progress: Progress = lambda m, f: None,
                     cancelled: Callable[[], bool] = lambda: False) -> Classifier:
    """Train the feature classifier on 90 % of the labelled data set; accuracy on the other 10 %."""
    _require_labels(data)
    torch.manual_seed(seed)
    num_classes = int(data.labels.max()) + 1
    model = FeatureClassifier(data.image_shape, num_classes)
    train_idx, val_idx = data.split(0.1, seed)
    labels = torch.from_numpy(data.labels)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(seed)
    steps = epochs * math.ceil(len(train_idx) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    model.train()
    for epoch in range(epochs):
        progress(f"training the feature classifier on {data.name}: epoch {epoch + 1}/{epochs}", epoch / epochs)
        if cancelled():
            raise Cancelled()
        perm = torch.from_numpy(train_idx)[torch.randperm(len(train_idx), generator=gen)]
        for idx in perm.split(batch_size):
            loss = F.cross_entropy(model(data.float_images(idx)), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    _, predicted = model.embed(data.images[torch.from_numpy(val_idx)])
    accuracy = float((predicted == data.labels[val_idx]).mean())
    return Classifier(model.eval(), accuracy, num_classes)


def feature_classifier(data: ImageData, progress: Progress = lambda m, f: None,
                       cancelled: Callable[[], bool] = lambda: False) -> Classifier:
    """The data set's feature classifier: from the cache, else trained now and cached."""
    _require_labels(data)
    path = classifier_path(data)
    cached = _load_cached(path, data)
    if cached is not None:
        return cached
    clf = train_classifier(data, progress=progress, cancelled=cancelled)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"format": CLASSIFIER_FORMAT, "image_shape": list(data.image_shape), "num_classes": clf.num_classes,
                    "width": clf.model.head[1].in_features // 4, "accuracy": clf.accuracy,
                    "state_dict": clf.model.state_dict()}, path)
    except OSError:  # a read-only cache only costs time
        pass
    return clf


# --- statistics ------------------------------------------------------------------------------
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


# --- Inception FID (only with weights already on this machine) ------------------------------------
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


# --- the comparison ------------------------------------------------------------------------------
@dataclass
class ModelReport:
    label: str
    family: str
    checkpoint: str
    frechet: float | None = None
    inception_fid: float | None = None
    precision: float | None = None
    recall: float | None = None
    label_entropy: float | None = None
    classes_covered: int | None = None
    bits_per_dim: float | None = None
    nll_kind: str = ""  # exact / bound
    ms_per_image: float | None = None
    train_time_s: float | None = None
    samples: np.ndarray | None = None  # a few uint8 (N, C, H, W) samples to show
    problem: str = ""  # why this model has no figures

    def row(self) -> dict:
        """The figures as a JSON-able dict (no sample images)."""
        return {k: v for k, v in self.__dict__.items() if k != "samples"}


@dataclass
class Comparison:
    data_name: str
    classifier_accuracy: float
    num_classes: int
    samples_per_model: int
    reports: list[ModelReport] = field(default_factory=list)
    baseline: ModelReport | None = None  # held-out real images scored like a model: the best reachable figures
    inception: bool = False


def run_label(model_name: str, folder: str) -> str:
    """'vae', or 'vae (run-2)' for a run folder of another name; the app's folders
    ``<time>_<model>_<data set>`` become 'vae (<time>)'."""
    run = folder.split(f"_{model_name}_")[0]
    return model_name if run in ("", model_name) else f"{model_name} ({run})"


@dataclass
class _Reference:
    features: np.ndarray
    inception: np.ndarray | None


def _generate(model: GenerativeModel, n: int, batch_size: int, seed: int) -> tuple[torch.Tensor, float]:
    """``n`` samples (uint8) and the seconds per image they took (after a one-image warm-up)."""
    gen = torch.Generator(device=model.device).manual_seed(seed)
    with torch.no_grad():
        model.sample(1, generator=gen)
        chunks, start = [], time.perf_counter()
        for i in range(0, n, batch_size):
            x = model.sample(min(batch_size, n - i), generator=gen)
            chunks.append((x.float().clamp(0, 1) * 255).round().to(torch.uint8).cpu())
        seconds = time.perf_counter() - start
    return torch.cat(chunks), seconds / n


class Comparer:
    """Scores models against one data set; the classifier and the real images' features are made once."""

    def __init__(self, data: ImageData, data_source: str = "", samples_per_model: int = 500, seed: int = 0,
                 progress: Progress = lambda m, f: None, cancelled: Callable[[], bool] = lambda: False):
        self.data, self.data_source = data, data_source
        self.n, self.seed = int(samples_per_model), seed
        self.progress, self.cancelled = progress, cancelled
        self.classifier = feature_classifier(data, progress, cancelled)
        weights = inception_weights()
        self.inception = InceptionFeatures(weights) if weights else None
        perm = np.random.default_rng(seed).permutation(len(data))
        held_out = min(self.n, len(data) // 2)
        self._baseline_idx = torch.from_numpy(np.sort(perm[:held_out]))
        ref_idx = torch.from_numpy(np.sort(perm[held_out:held_out + REFERENCE_LIMIT]))
        ref_images = data.images[ref_idx]
        self.reference = _Reference(self.classifier.model.embed(ref_images)[0],
                                    self.inception(ref_images) if self.inception else None)

    def _check(self) -> None:
        if self.cancelled():
            raise Cancelled()

    def score_images(self, label: str, family: str, images: torch.Tensor, checkpoint: str = "") -> ModelReport:
        """Quality and diversity figures of uint8 images against the data set."""
        feats, labels = self.classifier.model.embed(images)
        ref = self.reference.features
        precision, recall = precision_recall(ref[:len(feats)], feats)
        report = ModelReport(label, family, checkpoint, frechet=frechet_distance(ref, feats), precision=precision,
                             recall=recall, label_entropy=label_entropy(labels, self.classifier.num_classes),
                             classes_covered=int(len(np.unique(labels))), samples=images[:8].numpy())
        if self.inception is not None:
            self._check()
            report.inception_fid = frechet_distance(self.reference.inception, self.inception(images))
        return report

    def baseline(self) -> ModelReport:
        """Held-out real images scored like a model's samples: the floor of the Fréchet distance."""
        return self.score_images("real images (held out)", "data", self.data.images[self._baseline_idx])

    def score_checkpoint(self, path: Path, ddim_steps: int | None = None) -> ModelReport:
        path = Path(path)
        model, payload = load_checkpoint(path)
        label = run_label(model.name, path.parent.name)
        report = ModelReport(label, model.name, str(path))
        dataset = (payload.get("train_state") or {}).get("dataset", "")
        modality = model.capabilities.modality
        if modality != "image":
            report.problem = f"an {modality} model: the comparison scores image models"
            return report
        if tuple(model.image_shape) != tuple(self.data.image_shape):
            report.problem = f"trained on images {list(model.image_shape)}, not {list(self.data.image_shape)}"
            return report
        if self.data_source and dataset and dataset != self.data_source:
            report.problem = f"trained on {dataset}, not {self.data_source}"
            return report
        report.train_time_s = training_time(payload.get("history", []))
        if not model.capabilities.samples:
            report.problem = f"a {model.name} has no prior to sample from"
            return report
        if ddim_steps and model.capabilities.iterative:
            model.sample_steps = int(ddim_steps)
        self._check()
        images, seconds = _generate(model, self.n, batch_size=100, seed=self.seed)
        self._check()
        scored = self.score_images(label, model.name, images, str(path))
        scored.train_time_s, scored.ms_per_image = report.train_time_s, 1000 * seconds
        val = (payload.get("train_state") or {}).get("val_indices") or self._baseline_idx.tolist()
        x = self.data.float_images(torch.as_tensor(val[:self.n], dtype=torch.long))
        torch.manual_seed(self.seed)
        scored.bits_per_dim, scored.nll_kind = bits_per_dim(model, x)
        return scored

    def compare(self, checkpoints: list[Path], ddim_steps: int | None = None) -> Comparison:
        out = Comparison(self.data.name, self.classifier.accuracy, self.classifier.num_classes, self.n,
                         inception=self.inception is not None)
        self.progress("scoring held-out real images", 0.0)
        out.baseline = self.baseline()
        for i, path in enumerate(checkpoints):
            self._check()
            self.progress(f"sampling and scoring {Path(path).parent.name or Path(path).name}", i / len(checkpoints))
            try:
                out.reports.append(self.score_checkpoint(path, ddim_steps))
            except LatentExplorerError as exc:
                if isinstance(exc, Cancelled):
                    raise
                out.reports.append(ModelReport(Path(path).parent.name or Path(path).name, "?", str(path),
                                               problem=str(exc)))
        self.progress("done", 1.0)
        return out


def compare_checkpoints(data: ImageData, checkpoints: list[Path], data_source: str = "", samples_per_model: int = 500,
                        ddim_steps: int | None = None, progress: Progress = lambda m, f: None,
                        cancelled: Callable[[], bool] = lambda: False) -> Comparison:
    """The comparison table for ``checkpoints`` on ``data`` (see the module docstring)."""
    comparer = Comparer(data, data_source, samples_per_model, progress=progress, cancelled=cancelled)
    return comparer.compare([Path(p) for p in checkpoints], ddim_steps)


# --- finding and making runs to compare ----------------------------------------------------------
def find_checkpoints(root: Path, data_source: str) -> list[Path]:
    """The ``checkpoint.pt`` files in the run folders under ``root`` trained on ``data_source``, oldest first."""
    found = []
    for path in sorted(Path(root).glob("*/checkpoint.pt")):
        try:
            state = read_checkpoint(path).get("train_state") or {}
        except LatentExplorerError:
            continue
        if state.get("dataset") == data_source:
            found.append(path)
    return found


#: The families ``train_demo_zoo`` trains by default, one of each kind that samples, and for how long each.
DEMO_FAMILIES, DEMO_SECONDS = ("vae", "gan", "flow", "diffusion"), 6.0


def train_demo_zoo(data: ImageData, data_source: str, folder: Path, families: tuple[str, ...] | None = None,
                   progress: Progress = lambda m, f: None,
                   cancelled: Callable[[], bool] = lambda: False) -> list[Path]:
    """Train each of ``families`` (default ``DEMO_FAMILIES``), at its ``tiny`` settings and its learning rate, for
    a few seconds into ``folder/<name>`` (replacing the demo runs kept there): something to compare for demos and ``--screenshot``; returns the
    checkpoints. ``cancelled`` is asked before each model (``Cancelled``)."""
    from ..train.loop import TrainConfig
    from ..runs.quicktrain import train_briefly
    paths, families = [], families or DEMO_FAMILIES
    for i, name in enumerate(families):
        if cancelled():
            raise Cancelled()
        fam = family(name)
        progress(f"training a {name} for {DEMO_SECONDS:g} s", i / len(families))
        config = TrainConfig(epochs=1000, lr=fam.lr, device="cpu", preview_interval_s=1e9)
        train_briefly(data, data_source, name, DEMO_SECONDS, config, Path(folder) / name, overwrite=True, **fam.tiny)
        paths.append(Path(folder) / name / "checkpoint.pt")
    return paths
