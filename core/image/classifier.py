"""The feature classifier of a labelled image data set: a small CNN the app trains on it (cached per data set)
whose pooled last layer is the feature space the comparison measures samples in (``core.image.quality``)."""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .cache import cache_root
from .data import ImageData
from ..errors import Cancelled, LatentExplorerError

CLASSIFIER_FORMAT = "latent-explorer-classifier/1"
Progress = Callable[[str, float], None]  # (message, fraction done)


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
