"""Comparing trained generative models on one data set: the "generative learning trilemma", measured.

- sample quality: Fréchet distance between features of real and generated images, the features being the
  penultimate layer of a small classifier the app trains on the data set (``core.image.classifier``), plus
  Inception FID when torchvision's Inception weights are on this machine; precision (Kynkäänniemi et al.
  2019: the share of samples that fall on the real images' feature manifold);
- diversity: recall (the share of real images on the samples' manifold), the entropy of the classifier's
  predicted labels over the samples (1 = every class equally often) and how many classes appear;
- likelihood: bits/dim on validation images, exact for flows, an upper bound (the negative ELBO) for
  Gaussian VAEs;
- speed: sampling time per image (``core.image.timing``), training time (from the checkpoint's metrics).

The figures themselves are computed in ``core.image.quality``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from models import GenerativeModel

from ..errors import Cancelled, LatentExplorerError
from ..train.checkpoint import load_checkpoint, read_checkpoint
from .classifier import Progress, feature_classifier
from .data import ImageData
from .quality import (InceptionFeatures, bits_per_dim, frechet_distance, inception_weights, label_entropy,
                      precision_recall, training_time)
from .timing import sampling_time

REFERENCE_LIMIT = 2000  # real images whose features stand for the data set


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
    ms_per_image: float | None = None  # CPU time on one core, the median of repetitions (``core.image.timing``)
    ms_low: float | None = None  # the fastest and slowest repetition
    ms_high: float | None = None
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


def _generate(model: GenerativeModel, n: int, batch_size: int, seed: int) -> torch.Tensor:
    """``n`` samples (uint8)."""
    gen = torch.Generator(device=model.device).manual_seed(seed)
    with torch.no_grad():
        chunks = [(model.sample(min(batch_size, n - i), generator=gen).float().clamp(0, 1) * 255).round()
                  .to(torch.uint8).cpu() for i in range(0, n, batch_size)]
    return torch.cat(chunks)


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
        images = _generate(model, self.n, batch_size=100, seed=self.seed)
        self._check()
        scored = self.score_images(label, model.name, images, str(path))
        self._check()
        timing = sampling_time(model, seed=self.seed)
        scored.train_time_s = report.train_time_s
        scored.ms_per_image, scored.ms_low, scored.ms_high = timing.ms_per_image, timing.low, timing.high
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
