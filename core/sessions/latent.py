"""The Latent panel's session: where the model's codes live (``core.image.latent.CodeStats``: the slider axes and
their ranges), the current code z and its slider coordinates, starting from the item picked in the app, a
random code or the mean, the picture of z, traversal grids, sample grids from the prior (temperature, seed),
and for diffusion models the sample grid watched forming step by step.

Everything that takes time is a ``Work``; images reach views as uint8 (N, C, H, W) arrays. A new model or
data set makes every result still under way stale. Listeners hear "reset" (a new model or data: nothing
to show yet), "stats" (the slider axes are known), "code" (z moved), "decoded", "traversal", "samples",
"denoise_step" and "current_index".
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from models import GenerativeModel

from ..errors import LatentExplorerError
from ..image.imaging import save_grid, to_uint8
from ..image.latent import (CodeStats, code_stats, decode_codes, denoise_grid, encode_data, sample_grid,
                      traversal)
from . import Work
from .listeners import Listeners, weakly
from .workspace import Workspace

GRID_SIDES = (2, 4, 6, 8, 10)
ALL_AXES = -1
#: A traversal of every axis when there are at most this many; else the first axis alone.
ALL_AXES_MAX = 16
#: ``on_step(request, t, step, steps, images)``, called on the worker thread after each denoising step.
StepCallback = Callable[[int, int, int, int, np.ndarray], None]


@dataclass
class Grid:
    """A grid of images on show: uint8 (N, C, H, W), ``cols`` per row, and what it is."""
    images: np.ndarray
    cols: int
    title: str


def decoded(model: GenerativeModel, codes, *, progress=None, cancel=None) -> np.ndarray:
    """The uint8 (N, C, H, W) pictures of ``codes`` (one code or several)."""
    return to_uint8(decode_codes(model, codes))


def sampled(model: GenerativeModel, n: int, temperature: float, seed: int, *, progress=None,
            cancel=None) -> np.ndarray:
    """``n`` uint8 samples from the prior (``core.image.latent.sample_grid``)."""
    return to_uint8(sample_grid(model, n, temperature, seed))


def denoised(model: GenerativeModel, n: int, temperature: float, seed: int, on_step: Callable | None, *,
             progress=None, cancel=None) -> np.ndarray:
    """``sampled`` for a diffusion model, watched: ``on_step(t, step, steps, images)`` after each step with
    the predicted clean images as uint8; cancellable between steps."""
    def step(t, k, steps, images):
        if on_step is not None:
            on_step(t, k, steps, to_uint8(images))
    return to_uint8(denoise_grid(model, n, temperature, seed, step, progress, cancel))


class LatentSession:
    def __init__(self, workspace: Workspace, rng: np.random.Generator | None = None):
        self.workspace = workspace
        self.rng = rng or np.random.default_rng()
        self.stats: CodeStats | None = None
        self.z: np.ndarray | None = None
        self.what = ""  # what z is: "mean code", "item 42", "edited code"…
        self.picture: np.ndarray | None = None  # uint8 (1, C, H, W): the decode of z on show
        self.picture_title = ""
        self.request = self.shown_request = 0  # numbers the decodes of z; which one is on show
        self.axis, self.steps = ALL_AXES, 9  # what a traversal sweeps
        self.side, self.temperature, self.seed, self.denoise = 6, 1.0, 0, False  # what a sample grid draws
        self.traversal: Grid | None = None
        self.samples: Grid | None = None
        self.denoising: Grid | None = None  # the latest step of the denoising being watched
        self.denoise_step = (0, 0)  # (step, steps) of that step
        self._generation = 0  # bumps with a new model or data; older results are dropped
        self._sampling = 0  # numbers the sample grids asked for; only the newest may land
        self.listeners = Listeners()
        workspace.listen(weakly(self._on_workspace))

    def listen(self, listener) -> None:
        self.listeners.listen(listener)

    def unlisten(self, listener) -> None:
        self.listeners.unlisten(listener)

    def _on_workspace(self, what: str) -> None:
        if what in ("model", "data"):
            self.listeners.notify("reset")
        elif what == "current_index":
            self.listeners.notify(what)

    @property
    def model(self) -> GenerativeModel | None:
        return self.workspace.model

    # --- what the model can do here -------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """Whether the slider axes are known (z is set along with them)."""
        return self.stats is not None

    @property
    def can_start_from_item(self) -> bool:
        data = self.workspace.data
        return (self.ready and self.workspace.model_fits_data and self.model.capabilities.encodes
                and 0 <= self.workspace.current_index < len(data))

    @property
    def can_sample(self) -> bool:
        return self.ready and self.model.capabilities.samples

    @property
    def can_denoise(self) -> bool:
        """Whether sampling goes in steps that can be watched (diffusion models)."""
        return self.model is not None and self.model.capabilities.iterative

    def describe(self) -> str:
        """What the sliders are, or what to do first."""
        if self.model is None:
            return "No model yet: train one in the Training panel, or open a checkpoint (File ▸ Open checkpoint)."
        if self.stats is None:
            return "Measuring the data's codes…"
        kind = "one slider per dimension" if self.stats.labels[0].startswith("z") else \
            "sliders along principal directions"
        source = (f"{self.stats.count:,} codes of {self.workspace.data.name}" if self.stats.count
                  else "the prior N(0, I) (no codes of this data)")
        return f"{self.model.latent_dim}-dim latent, {kind}; ranges ±3σ of {source}."

    def why_no_samples(self) -> str:
        """Why the sample grid stays empty ('' when the model can sample)."""
        if self.model is None:
            return "Samples from the prior appear here once there is a model"
        if not self.model.capabilities.samples:
            return f"{self.model.name} models have no prior to sample from"
        return ""

    # --- the model's code statistics ------------------------------------------------------------
    def refresh(self) -> Work | None:
        """Start over for the workspace's model and data: the work that measures the codes (None without a
        model); every result still under way becomes stale."""
        self._generation += 1
        self._sampling += 1
        self.stats = self.z = self.picture = self.traversal = self.samples = self.denoising = None
        self.what = ""
        if self.model is None:
            return None
        return Work("measuring the data's codes", code_stats, (self.model, self.workspace.data),
                    functools.partial(self._apply_stats, self._generation))

    def _apply_stats(self, generation: int, stats: CodeStats) -> bool:
        if generation != self._generation:
            return False
        self.stats, self._ranges = stats, stats.ranges()
        self.axis = ALL_AXES if len(stats.labels) <= ALL_AXES_MAX else 0
        self.listeners.notify("stats")
        self.set_code(stats.mean, "mean code")
        return True

    # --- the code and its sliders ---------------------------------------------------------------
    def coords(self) -> np.ndarray:
        """z's slider coordinates: its offsets from the mean along each axis."""
        return self.stats.coords(self.z)

    def sigmas(self) -> np.ndarray:
        """z's slider coordinates in standard deviations of the codes."""
        return self.coords() / self.stats.scales

    def ranges(self) -> np.ndarray:
        """(K, 2) the sliders' limits."""
        return self._ranges

    def set_code(self, z: np.ndarray, what: str) -> None:
        """Show code ``z`` (listeners hear "code", and decode it with ``decode_work``)."""
        self.z, self.what = np.asarray(z, np.float32).copy(), what
        self.listeners.notify("code")

    def set_coord(self, axis: int, value: float) -> None:
        """Move z along one slider axis to ``value`` (offset from the mean, in code units)."""
        coords = self.coords()
        coords[axis] = value
        self.set_code(self.stats.with_coords(self.z, coords), "edited code")

    def random_code(self) -> None:
        """A code drawn from a Gaussian fitted to the data's codes."""
        self.set_code(self.stats.random_code(self.rng), "random code")

    def reset_code(self) -> None:
        self.set_code(self.stats.mean, "mean code")

    def item_work(self) -> Work | None:
        """The work that starts from the code of the app's current item (None if the model cannot encode it)."""
        if not self.can_start_from_item:
            return None
        index = self.workspace.current_index
        return Work(f"encoding item {index}", encode_data, (self.model, self.workspace.data, [index]),
                    functools.partial(self._apply_item, self._generation, index))

    def _apply_item(self, generation: int, index: int, codes: np.ndarray) -> bool:
        if generation != self._generation:
            return False
        self.set_code(codes[0], f"item {index}")
        return True

    def decode_work(self) -> Work:
        """The work that decodes z as it is now (numbered: ``request``)."""
        self.request += 1
        return Work(f"decoding the {self.what}", decoded, (self.model, self.z.copy()),
                    functools.partial(self._apply_picture, self._generation, self.request, self.what))

    def _apply_picture(self, generation: int, request: int, what: str, picture: np.ndarray) -> bool:
        if generation != self._generation:
            return False
        self.picture, self.picture_title, self.shown_request = picture, f"Decoded: {what}", request
        self.listeners.notify("decoded")
        return True

    # --- traversals -----------------------------------------------------------------------------
    def axes_title(self, axes: list[int]) -> str:
        labels = self.stats.labels
        return f"{labels[axes[0]]} … {labels[axes[-1]]}" if len(axes) > 1 else labels[axes[0]]

    def traverse_work(self) -> Work:
        """The work that decodes the traversal of the chosen axis (or all) in ``steps`` steps around z."""
        axes = list(range(len(self.stats.labels))) if self.axis == ALL_AXES else [self.axis]
        if not axes or None in axes or self.steps < 2:
            raise LatentExplorerError(f"nothing to traverse: choose an axis and at least 2 steps (got "
                                      f"{self.steps} steps)")
        codes = traversal(self.stats, self.z, axes, self.steps)
        names = self.axes_title(axes)
        return Work(f"Traversing {names}…", decoded, (self.model, codes),
                    functools.partial(self._apply_traversal, self._generation, self.steps, names))

    def _apply_traversal(self, generation: int, steps: int, names: str, images: np.ndarray) -> bool:
        if generation != self._generation:
            return False
        self.traversal = Grid(images, steps, f"Rows: {names}; columns −3σ → +3σ around the current code")
        self.listeners.notify("traversal")
        return True

    # --- sample grids ---------------------------------------------------------------------------
    def new_seed(self) -> int:
        self.seed = int(self.rng.integers(0, 2**31 - 1))
        return self.seed

    def sample_work(self, on_step: StepCallback | None = None) -> Work:
        """The work that draws a ``side`` × ``side`` grid from the prior; it makes any grid still being drawn
        stale. With ``denoise`` on, for diffusion models: step by step, ``on_step(request, t, step, steps,
        images)`` after each step (from the worker; pass the arguments to ``show_denoise_step``)."""
        if not self.can_sample:
            raise LatentExplorerError(self.why_no_samples() or "no code statistics yet")
        self._sampling += 1
        request, n = self._sampling, self.side * self.side
        apply = functools.partial(self._apply_samples, self._generation, request, self.side, self.temperature,
                                  self.seed)
        self.denoising = None
        if self.denoise and self.can_denoise:
            step = functools.partial(on_step, request) if on_step is not None else None
            return Work("Denoising…", denoised, (self.model, n, self.temperature, self.seed, step), apply)
        return Work("Sampling…", sampled, (self.model, n, self.temperature, self.seed), apply)

    def stop_sampling(self) -> None:
        """Drop the grid being drawn (its results and steps no longer land)."""
        self._sampling += 1

    def show_denoise_step(self, request: int, t: int, step: int, steps: int, images: np.ndarray) -> bool:
        """A step of a watched denoising; False (and nothing changes) for a grid drawn over or cancelled."""
        if request != self._sampling:
            return False
        self.denoising = Grid(images, self.side,
                              f"Denoising: step {step}/{steps}, t = {t} (predicted clean images)")
        self.denoise_step = (step, steps)
        self.listeners.notify("denoise_step")
        return True

    def _apply_samples(self, generation: int, request: int, side: int, temperature: float, seed: int,
                       images: np.ndarray) -> bool:
        if generation != self._generation or request != self._sampling:
            return False
        self.denoising = None
        self.samples = Grid(images, side, f"{len(images)} samples from the prior, temperature {temperature:g}, "
                                          f"seed {seed}")
        self.listeners.notify("samples")
        return True

    # --- saving ---------------------------------------------------------------------------------
    def save_traversal(self, path: Path) -> Path:
        return self._save(path, self.traversal)

    def save_samples(self, path: Path) -> Path:
        return self._save(path, self.samples)

    @staticmethod
    def _save(path: Path, grid: Grid | None) -> Path:
        if grid is None:
            raise LatentExplorerError("nothing to save yet")
        try:
            return save_grid(Path(path), grid.images, grid.cols)
        except OSError as exc:
            raise LatentExplorerError(f"could not write {path}: {exc.strerror or exc}") from exc
