"""The Compare panel's session: the checkpoints to compare on the workspace's data set, the comparison itself
(``core.image.compare``: sample quality, diversity, likelihood and speed) and its results as plain rows and points.

The list holds checkpoints of models trained on the open data set, each checked (compared) or not: runs found
in a run folder, files added by hand, the workspace's own model, the demo models. Comparing and training the
demo models are ``Work``s whose ``compute`` takes the ``progress`` and ``cancel`` keywords of
``gui.background.jobs.Job`` (both optional: ``run_here`` works too).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from ..errors import LatentExplorerError
from ..image.compare import Comparison, ModelReport, compare_checkpoints, find_checkpoints, train_demo_zoo
from ..image.data import ImageData
from . import Work
from .workspace import Workspace

DEFAULT_SAMPLES, SAMPLES_RANGE = 500, (50, 20_000)
DEMO_SHARE = 0.6  # of the demo's progress bar: training; the rest is the comparison
JobProgress = Callable[[float, str], None]  # (fraction done, what is going on): gui.background.jobs.Job's protocol


# --- the figures as text ---------------------------------------------------------------------------
def _number(value, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _nll(r: ModelReport) -> str:
    if r.bits_per_dim is None:
        return "—"
    return f"{r.bits_per_dim:.3f}" if r.nll_kind == "exact" else f"≤ {r.bits_per_dim:.3f}"


class Column(NamedTuple):
    header: str
    tip: str
    text: Callable[[ModelReport, Comparison], str]


#: The table's columns after the model's name and its samples.
COLUMNS = [
    Column("Fréchet ↓", "Fréchet distance between the features of samples and of real images (the feature space of "
                        "a classifier trained on this data set): sample quality, lower is better",
           lambda r, c: _number(r.frechet, ".2f")),
    Column("Inception FID ↓", "The same in Inception v3's feature space (only when its weights are on this machine)",
           lambda r, c: _number(r.inception_fid, ".1f")),
    Column("Precision ↑", "Share of samples that look like some real image (on the real images' feature manifold)",
           lambda r, c: _number(r.precision, ".2f")),
    Column("Recall ↑", "Share of real images some sample looks like: diversity, mode coverage",
           lambda r, c: _number(r.recall, ".2f")),
    Column("Label entropy ↑", "Entropy of the classifier's labels for the samples over its maximum: 1 = all classes "
                              "equally often", lambda r, c: _number(r.label_entropy, ".2f")),
    Column("Classes", "How many of the data set's classes the classifier sees among the samples",
           lambda r, c: "—" if r.classes_covered is None else f"{r.classes_covered}/{c.num_classes}"),
    Column("NLL bits/dim ↓", "Negative log-likelihood of validation images: exact for flows, an upper bound (≤, the "
                             "negative ELBO) for Gaussian VAEs, undefined for GANs", lambda r, c: _nll(r)),
    Column("ms / image ↓", "Sampling time per image, measured here on the CPU (diffusion: with the DDIM steps chosen)",
           lambda r, c: _number(r.ms_per_image, ".3g")),
    Column("Train time", "Training time, from the checkpoint's metrics", lambda r, c: _duration(r.train_time_s)),
]
INCEPTION_COLUMN = 1


@dataclass
class Row:
    """One line of the table: the held-out real images first, then one per model."""
    label: str
    tooltip: str
    samples: np.ndarray | None  # a few uint8 (N, C, H, W) samples
    note: str  # why there are no figures (shown instead of the samples)
    cells: list[str]  # one per ``COLUMNS``


@dataclass
class Point:
    """A model in the chart of sample quality against sampling time."""
    label: str  # the run: 'vae (run-2)'
    family: str
    ms_per_image: float
    frechet: float
    recall: float
    marker: int  # the model's number among the points: a marker shape of its own


@dataclass
class Entry:
    path: Path
    checked: bool = True

    @property
    def name(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"


# --- what runs off the session's thread ----------------------------------------------------------
def _adapted(progress: JobProgress | None, cancel: threading.Event | None, start: float = 0.0, share: float = 1.0):
    """``core.image.compare``'s (progress(message, fraction), cancelled()) from a Job's keywords, the fraction mapped
    into [start, start + share]."""
    return ((lambda m, f: progress(start + share * f, m)) if progress else (lambda m, f: None),
            cancel.is_set if cancel else (lambda: False))


def run_comparison(data: ImageData, paths: list[Path], source: str, samples: int, ddim_steps: int | None,
                   progress: JobProgress | None = None, cancel: threading.Event | None = None) -> Comparison:
    return compare_checkpoints(data, paths, source, samples, ddim_steps, *_adapted(progress, cancel))


def run_demo(data: ImageData, source: str, folder: Path, samples: int, progress: JobProgress | None = None,
             cancel: threading.Event | None = None) -> tuple[list[Path], Comparison]:
    """Train the demo models into ``folder``, then compare them: (their checkpoints, the comparison)."""
    paths = train_demo_zoo(data, source, folder, progress=_adapted(progress, cancel, 0.0, DEMO_SHARE)[0],
                           cancelled=_adapted(progress, cancel)[1])
    return paths, compare_checkpoints(data, paths, source, samples, None,
                                      *_adapted(progress, cancel, DEMO_SHARE, 1 - DEMO_SHARE))


# --- the session -----------------------------------------------------------------------------------
class CompareSession:
    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self.entries: list[Entry] = []
        self.samples = DEFAULT_SAMPLES
        self.ddim_steps: int | None = None  # diffusion's sampling steps; None: each model's own
        self.comparison: Comparison | None = None
        self._generation = 0

    def start_over(self) -> None:
        """Another data set: the list and the results start over (results still on their way are dropped)."""
        self._generation += 1
        self.entries.clear()
        self.comparison = None

    def describe(self) -> str:
        data = self.workspace.data
        if data is None:
            return "Open a data set with labels, train models on it, then compare them here."
        return (f"Models trained on {data.name} ({len(data)} images, {list(data.image_shape)}). "
                "Figures use a classifier the app trains on this data set (cached).")

    def empty_text(self) -> str:
        """What the results area says while there are no results ('' when there are)."""
        if self.comparison is not None:
            return ""
        if self.workspace.data is None:
            return "No data set open."
        if not self.entries:
            return "No models yet: Find runs, Add…, or Demo models."
        checked = len(self.checked)
        return (f"Press Compare to score the {checked} checked model{'s' * (checked != 1)}." if checked
                else "Check the models to compare.")

    # --- the list -----------------------------------------------------------------------------------
    @property
    def checkpoints(self) -> list[Path]:
        return [e.path for e in self.entries]

    @property
    def checked(self) -> list[Path]:
        return [e.path for e in self.entries if e.checked]

    def add(self, path: str | Path) -> bool:
        """Add a checkpoint (checked); False if it is in the list already."""
        path = Path(path).resolve()
        if path in self.checkpoints:
            return False
        self.entries.append(Entry(path))
        return True

    def remove(self, paths) -> None:
        gone = {Path(p).resolve() for p in paths}
        self.entries = [e for e in self.entries if e.path not in gone]

    def set_checked(self, path: str | Path, checked: bool) -> None:
        path = Path(path).resolve()
        for e in self.entries:
            if e.path == path:
                e.checked = bool(checked)

    def add_current_model(self) -> bool:
        """The workspace's model joins the list when it has a checkpoint and takes the open data set's images."""
        ws = self.workspace
        return ws.checkpoint_path is not None and ws.model_fits_data and self.add(ws.checkpoint_path)

    def add_trained(self, path: str | Path, data_source: str) -> bool:
        """A run's checkpoint joins the list when the run trained on the open data set."""
        return self.workspace.data is not None and data_source == self.workspace.data_source and self.add(path)

    def find_runs(self, root: Path) -> Work:
        """Add the checkpoints in the run folders under ``root`` trained on the open data set; ``apply``
        returns how many joined."""
        if self.workspace.data is None:
            raise LatentExplorerError("Open a data set first: runs are found by the data set they trained on.")
        generation = self._generation

        def apply(paths: list[Path]) -> int:
            return sum(self.add(p) for p in paths) if generation == self._generation else 0

        return Work(f"looking for runs in {root}", find_checkpoints, (Path(root), self.workspace.data_source), apply)

    # --- comparing -------------------------------------------------------------------------------------
    def set_options(self, samples: int | None = None, ddim_steps: int | None = None) -> None:
        """Samples per model; DDIM steps of diffusion models (0 or None: each model's own)."""
        if samples is not None:
            self.samples = int(np.clip(samples, *SAMPLES_RANGE))
        self.ddim_steps = ddim_steps or None

    def compare(self) -> Work:
        """Sample and score every checked model; ``apply`` stores the comparison and says how it went."""
        paths, data = self.checked, self.workspace.data
        if data is None:
            raise LatentExplorerError("Open a data set first.")
        if not paths:
            raise LatentExplorerError("Check at least one model to compare.")
        return Work(f"comparing {len(paths)} models", run_comparison,
                    (data, paths, self.workspace.data_source, self.samples, self.ddim_steps), self._storing())

    def demo_models(self, folder: Path) -> Work:
        """Train a VAE, a GAN, a flow and a diffusion model for a few seconds each on the open data set into
        ``folder``, then compare them; ``apply`` adds them to the list and stores the comparison."""
        data = self.workspace.data
        if data is None:
            raise LatentExplorerError("Open a data set first: the demo models are trained on it.")
        store = self._storing()

        def apply(result) -> str | None:
            paths, comparison = result
            message = store(comparison)
            if message is not None:
                for path in paths:
                    self.add(path)
            return message

        return Work("training and comparing the demo models", run_demo,
                    (data, self.workspace.data_source, Path(folder), self.samples), apply)

    def _storing(self) -> Callable[[Comparison], str | None]:
        generation = self._generation

        def apply(comparison: Comparison) -> str | None:
            if generation != self._generation:
                return None
            self.comparison = comparison
            return (f"{len(comparison.reports)} models, {comparison.samples_per_model} samples each; feature "
                    f"classifier accuracy {100 * comparison.classifier_accuracy:.1f} % on held-out images")
        return apply

    # --- results ------------------------------------------------------------------------------------
    def rows(self) -> list[Row]:
        c = self.comparison
        if c is None:
            return []
        rows = []
        for r in [c.baseline, *c.reports]:
            tooltip = r.checkpoint or "held-out real images of the data set, scored like a model's samples"
            rows.append(Row(r.label, tooltip, r.samples, r.problem, [col.text(r, c) for col in COLUMNS]))
        return rows

    def points(self) -> list[Point]:
        """The models with a Fréchet distance and a sampling time, each with a marker of its own."""
        if self.comparison is None:
            return []
        scored = [r for r in self.comparison.reports if r.frechet is not None and r.ms_per_image]
        return [Point(r.label, r.family, r.ms_per_image, r.frechet, r.recall or 0.0, i) for i, r in enumerate(scored)]

    @property
    def baseline_frechet(self) -> float | None:
        c = self.comparison
        return c.baseline.frechet if c is not None and c.baseline is not None else None

    @property
    def shows_inception(self) -> bool:
        return self.comparison is not None and self.comparison.inception
