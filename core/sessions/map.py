"""The Map panel's session: what is mapped (the data set's codes, pixel space without a usable model, or
samples a model generates), the projection, the map itself with how well it separates classes, the item
being inspected, the selection drawn on the map and the named selections it becomes, exports, and the
view choices the user made (remembered as plain values).

Making a map and inspecting an item take time: each is a ``Work`` whose ``compute`` runs anywhere; a newer
request makes the results of older ones stale (their ``apply`` drops them). Listeners hear "map" (a new
map, or none), "source" (what to map changed: the data or the model), "selection", "selections" (the
named ones), "item" (the inspected item) and "current_index" (the item picked anywhere in the app).
"""
from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models import GenerativeModel

from ..errors import LatentExplorerError
from ..image.cache import cache_root
from ..image.clusters import Cluster, Found, name_clusters, search
from ..image.data import ImageData
from ..image.embedding import (GENERATED_SAMPLES, Embedding, ItemView, class_names, compute_generated_map, compute_map,
                         generated_data, inspect_item, knn_accuracy, label_names)
from ..image.export import write_coordinates_csv, write_projector
from ..image.projection import METHODS
from . import Work
from .listeners import Listeners, weakly
from .workspace import Workspace

NEIGHBOURS = 8
#: Above this many classes the legend starts hidden (it would cover the map).
LEGEND_AUTO_MAX = 12
SOURCES = ("data", "generated")
THUMBNAIL_PX = (16, 96)
SAVED_VIEWS = 20  # the views of this many maps are remembered
SAVED_SELECTION_MAX = 50_000  # a saved view keeps a selection of at most this many items


@dataclass
class MapChoices:
    """How the user set up the map, remembered between launches."""
    images: bool = True  # images instead of dots when zoomed in
    thumbnail_px: int = 36
    method: str | None = None  # a projection the user chose; None: PCA without a model, UMAP with one
    legend: bool | None = None  # shown or hidden by the user; None: shown for at most LEGEND_AUTO_MAX classes
    legend_offset: tuple[float, float] | None = None  # where the user dragged it (pyqtgraph's offset convention)
    cluster_names: bool = True  # the clusters' names on the map
    views: dict | None = None  # by ``MapSession.view_key``: the view of that map when it was last left

    def remember_view(self, key: str, state: dict) -> None:
        """Keep ``state`` (``MapView.view_state`` and a selection) as the view of map ``key`` (the newest last)."""
        views = dict(self.views or {})
        views.pop(key, None)
        views[key] = state
        self.views = dict(list(views.items())[-SAVED_VIEWS:])

    @classmethod
    def from_dict(cls, saved: dict) -> "MapChoices":
        """Choices from what ``to_dict`` wrote; anything unreadable keeps its default."""
        saved = saved if isinstance(saved, dict) else {}
        offset = saved.get("legend_offset")
        return cls(images=saved.get("images") is not False,
                   thumbnail_px=int(np.clip(saved["thumbnail_px"], *THUMBNAIL_PX))
                   if isinstance(saved.get("thumbnail_px"), int) else cls.thumbnail_px,
                   method=saved.get("method") if saved.get("method") in METHODS else None,
                   legend=saved.get("legend") if isinstance(saved.get("legend"), bool) else None,
                   legend_offset=(float(offset[0]), float(offset[1]))
                   if isinstance(offset, list) and len(offset) == 2
                   and all(isinstance(v, (int, float)) for v in offset) else None,
                   cluster_names=saved.get("cluster_names") is not False,
                   views={k: v for k, v in saved["views"].items() if isinstance(v, dict)}
                   if isinstance(saved.get("views"), dict) else None)

    def to_dict(self) -> dict:
        return {"images": self.images, "thumbnail_px": self.thumbnail_px, "method": self.method,
                "legend": self.legend, "legend_offset": list(self.legend_offset) if self.legend_offset else None,
                "cluster_names": self.cluster_names, "views": self.views}


@dataclass
class MapResult:
    """What making a map produces: the model copy it was made with, the map, its class separation, and
    its clusters, named."""
    model: GenerativeModel | None
    embedding: Embedding
    accuracy: float | None
    clusters: list[Cluster]


def map_data(model: GenerativeModel | None, data: ImageData, method: str, cache_dir: Path | None, *,
             progress=None, cancel=None) -> MapResult:
    """The map of ``data`` through a private eval copy of ``model`` (pixel space for None), and how well it
    separates the classes (5-NN accuracy on held-out items)."""
    model = copy.deepcopy(model).eval() if model is not None else None
    embedding = compute_map(model, data, method, cache_dir=cache_dir, progress=progress, cancel=cancel)
    accuracy = None
    if data.labels is not None and len(data) >= 20:
        train_idx, val_idx = data.split()
        accuracy = knn_accuracy(embedding.coords, data.labels, train_idx, val_idx)
    return MapResult(model, embedding, accuracy, name_clusters(embedding.coords, data.labels, class_names(data)))


def map_generated(model: GenerativeModel, method: str, n: int, cache_dir: Path | None, *, progress=None,
                  cancel=None) -> MapResult:
    """The map of ``n`` samples of a private eval copy of ``model``."""
    model = copy.deepcopy(model).eval()
    embedding = compute_generated_map(model, method, n, cache_dir=cache_dir, progress=progress, cancel=cancel)
    return MapResult(model, embedding, None, name_clusters(embedding.coords))


def model_title(workspace: Workspace) -> str:
    """The workspace's model as people know it: its family and the run folder it came from."""
    model, path = workspace.model, workspace.checkpoint_path
    return f"{model.name}{f' ({path.parent.name})' if path else ''}" if model is not None else "no model"


class MapSession:
    def __init__(self, workspace: Workspace, choices: MapChoices | None = None, cache_dir: Path | None = None):
        self.workspace = workspace
        self.choices = choices or MapChoices()
        self.cache_dir = cache_dir  # None: the app's cache (core.image.cache.cache_root, read when a map starts)
        self.method = self.choices.method or "pca"
        self.source_choice = "data"  # what the user (or the model's default) picked, for models that sample
        self.source_chosen = False
        self.samples = GENERATED_SAMPLES
        self.embedding: Embedding | None = None
        self.model: GenerativeModel | None = None  # the private copy the map was made with
        self.accuracy: float | None = None
        self.clusters: list[Cluster] = []
        self.note = ""  # why the map is not of the model's latent space, if it is not
        self.title = ""  # the model the map is of
        self.names: list[str] = []  # each item's label, as text
        self.selection = np.zeros(0, np.int64)
        self.item: ItemView | None = None
        self._map_request = self._item_request = 0  # only the newest request's result is applied
        self.listeners = Listeners()
        workspace.listen(weakly(self._on_workspace))
        for what in ("data", "model"):
            self._on_workspace(what)

    def listen(self, listener) -> None:
        self.listeners.listen(listener)

    def unlisten(self, listener) -> None:
        self.listeners.unlisten(listener)

    # --- what to map ----------------------------------------------------------------------------
    def _on_workspace(self, what: str) -> None:
        if what == "data":
            data = self.workspace.data
            self.names = label_names(data) if data is not None else []
            self._forget_map()
            self.listeners.notify("source")
        elif what == "model":
            model = self.workspace.model
            if model is not None and self.choices.method is None:
                self.method = "umap"  # where a model pays off
            if model is not None and not self.source_chosen:  # mapping a data set through a slow encoder is slow
                self.source_choice = "generated" if model.capabilities.encodes_slowly else "data"
            self.listeners.notify("source")
        else:  # "selections", "current_index"
            self.listeners.notify(what)

    def _forget_map(self) -> None:
        self._map_request += 1
        self.embedding, self.model, self.accuracy, self.item = None, None, None, None
        self.clusters = []
        self.selection = np.zeros(0, np.int64)
        self.listeners.notify("map")

    @property
    def can_generate(self) -> bool:
        """Whether the model can be mapped by its samples (it has a prior to draw from)."""
        model = self.workspace.model
        return model is not None and model.capabilities.samples

    @property
    def source(self) -> str:
        """What is mapped: "data" (the data set's codes, or pixels) or "generated" (samples from the prior)."""
        return self.source_choice if self.can_generate else "data"

    def set_source(self, source: str) -> None:
        if source not in SOURCES:
            raise LatentExplorerError(f"unknown map source {source!r}; choose from {', '.join(SOURCES)}")
        self.source_choice, self.source_chosen = source, True

    def set_method(self, method: str) -> None:
        """The projection the user chose (remembered)."""
        if method not in METHODS:
            raise LatentExplorerError(f"unknown projection {method!r}; choose from {', '.join(METHODS)}")
        self.method = self.choices.method = method

    def set_samples(self, n: int) -> bool:
        """How many samples a map of generated samples shows; True if the map on show has another count."""
        self.samples = int(n)
        return self.source == "generated" and (self.embedding is None or len(self.embedding.codes) != self.samples)

    def usable_model(self) -> tuple[GenerativeModel | None, str]:
        """The workspace's model if it can map the data set's images, else None and why not."""
        model, data = self.workspace.model, self.workspace.data
        if model is None:
            return None, "No model yet: this is pixel space. Train or open a model to see what it learned."
        if not model.capabilities.encodes:
            return None, f"{model.name} models have no encoder: showing pixel space."
        if not self.workspace.model_fits_data:
            return None, (f"The model takes {'×'.join(map(str, model.image_shape))} images, {data.name} has "
                          f"{'×'.join(map(str, data.image_shape))}: showing pixel space.")
        return model, ""

    # --- the map --------------------------------------------------------------------------------
    def map_work(self) -> Work | None:
        """The work that makes the map of what is chosen now (None without data); it makes earlier ones stale."""
        data = self.workspace.data
        if data is None:
            return None
        self._map_request += 1
        cache = self.cache_dir if self.cache_dir is not None else cache_root()
        if self.source == "generated":
            apply = functools.partial(self._apply_map, self._map_request, "")
            return Work(f"mapping {self.samples:,} generated samples", map_generated,
                        (self.workspace.model, self.method, self.samples, cache), apply)
        model, note = self.usable_model()
        return Work(f"mapping {len(data):,} items", map_data, (model, data, self.method, cache),
                    functools.partial(self._apply_map, self._map_request, note))

    def _apply_map(self, request: int, note: str, result: MapResult) -> bool:
        if request != self._map_request:
            return False  # a newer map was asked for meanwhile
        was_generated = self.generated
        self.model, self.embedding, self.accuracy, self.note = result.model, result.embedding, result.accuracy, note
        self.clusters = result.clusters
        self.title, self.item = model_title(self.workspace), None
        if was_generated or self.generated:  # selections of samples are not selections of items
            self.selection = np.zeros(0, np.int64)
        self.listeners.notify("map")
        return True

    @property
    def generated(self) -> bool:
        """Whether the map on show is of generated samples (its points are not data-set items)."""
        return self.embedding is not None and self.embedding.space == "generated"

    @property
    def images(self) -> np.ndarray:
        """The uint8 (N, C, H, W) images of the points on the map."""
        if self.generated:
            return self.embedding.images.numpy()
        return self.workspace.data.images.numpy()

    @property
    def labels(self) -> np.ndarray | None:
        """The points' class indices (None for generated samples and unlabelled data)."""
        data = self.workspace.data
        return None if self.generated or data is None else data.labels

    @property
    def class_names(self) -> list[str]:
        """One name per class index on the map (none for generated samples and unlabelled data)."""
        return [] if self.labels is None else class_names(self.workspace.data)

    @property
    def legend_shown(self) -> bool:
        """Whether the legend shows: as the user chose, else for a handful of classes only."""
        count = len(self.class_names)
        if count == 0:
            return False
        return self.choices.legend if self.choices.legend is not None else count <= LEGEND_AUTO_MAX

    def describe(self) -> str:
        """What the map shows, for the line above it."""
        data, embedding = self.workspace.data, self.embedding
        if data is None:
            return ("No data yet: open a data set in the Setup panel (or a checkpoint with File ▸ Open) to see "
                    "its map.")
        if embedding is None:
            return ""
        method, dims = METHODS[embedding.method], embedding.codes.shape[1]
        if self.generated:
            return (f"Generated samples of {self.title} · {method} of their {dims}-d z · {len(embedding.codes):,} "
                    "samples (click one to see it and its z)")
        what = f"Latent space of {self.title}" if embedding.space == "latent" else "Pixel space"
        text = f"{what} · {method} of {dims}-d codes · {len(data):,} items"
        if self.accuracy is not None:
            text += f" · classes separate: 5-NN accuracy {self.accuracy:.0%} on held-out items"
        return text + (f"\n{self.note}" if self.note else "")

    def view_key(self) -> str | None:
        """Which map is on show (data set, size, model, what is mapped, projection), to remember its view by."""
        data = self.workspace.data
        if self.embedding is None or data is None:
            return None
        return (f"{data.name}|{len(self.embedding.codes)}|{self.title}|{self.embedding.space}|"
                f"{self.embedding.method}")

    def saved_view(self) -> dict | None:
        """The view the user left this map in last time, if any."""
        key = self.view_key()
        return (self.choices.views or {}).get(key) if key else None

    def remember_view(self, state: dict) -> None:
        """Keep the view ``state`` (zoom, hidden classes) and the selection as this map's view."""
        key = self.view_key()
        if key is not None:
            selection = self.selection.tolist() if len(self.selection) <= SAVED_SELECTION_MAX else []
            self.choices.remember_view(key, {**state, "selection": selection})

    def restore_selection(self, state: dict) -> None:
        """Select again the items a saved view had selected (those still on the map)."""
        chosen = state.get("selection") if isinstance(state, dict) else None
        if isinstance(chosen, list) and chosen and all(isinstance(i, int) for i in chosen):
            indices = np.asarray(chosen, np.int64)
            self.select(indices[(indices >= 0) & (indices < len(self.embedding.codes))])

    def find(self, text: str) -> Found:
        """The items on the map matching ``text`` (``core.image.clusters.search``)."""
        if self.embedding is None:
            return Found(np.zeros(0, np.int64), "there is no map yet")
        data = self.workspace.data
        return search(text, len(self.embedding.codes), self.labels, self.class_names,
                      None if self.generated else data.files)

    # --- the inspector --------------------------------------------------------------------------
    def click(self, index: int) -> Work | None:
        """A point clicked on the map: a data-set item becomes the app's current item (listeners hear
        "current_index"); a generated sample is inspected here (the work returned)."""
        if self.generated:
            return self.inspect_work(index)
        self.workspace.set_current_index(index)
        return None

    def inspect_work(self, index: int | None = None) -> Work | None:
        """The work that inspects point ``index`` (default: the app's current item, on a map of the data);
        None if there is no such point on the map."""
        if index is None:
            if self.generated:
                return None
            index = self.workspace.current_index
        if self.embedding is None or self.workspace.data is None or not 0 <= index < len(self.embedding.codes):
            return None
        self._item_request += 1
        return Work(f"inspecting item {index}", inspect_item,
                    (self.model, self.workspace.data, self.embedding, index, NEIGHBOURS),
                    functools.partial(self._apply_item, self._item_request, self.embedding))

    def _apply_item(self, request: int, embedding: Embedding, item: ItemView) -> bool:
        if request != self._item_request or embedding is not self.embedding:
            return False
        self.item = item
        self.listeners.notify("item")
        return True

    def item_title(self) -> str:
        """The inspected point, for the inspector's heading."""
        if self.item is None:
            return ""
        i = self.item.index
        if self.generated:
            return f"Generated sample #{i}"
        return f"Item #{i}{f' · {self.names[i]}' if self.names[i] else ''}"

    def point_names(self) -> list[str]:
        """Each point's label as text ('' for generated samples)."""
        return [""] * len(self.embedding.codes) if self.generated else self.names

    # --- selections -----------------------------------------------------------------------------
    def select(self, indices, add: bool = False) -> None:
        """Select points (drawn on the map, or a saved selection); ``add`` keeps those selected already."""
        indices = np.asarray(indices, np.int64)
        self.selection = np.union1d(self.selection, indices) if add else indices
        self.listeners.notify("selection")

    def selection_summary(self) -> str:
        n = len(self.selection)
        if n == 0:
            return "Select points with the rectangle or lasso tool."
        text = f"{n:,} points selected"
        labels = self.labels
        if labels is not None:
            values, counts = np.unique(labels[self.selection], return_counts=True)
            top = np.argsort(-counts, kind="stable")[:3]
            text += " — " + ", ".join(f"{self.class_names[values[t]]} ×{counts[t]}" for t in top)
        return text

    @property
    def can_save_selection(self) -> bool:
        """Named selections are of data-set items, so not of generated samples."""
        return len(self.selection) > 0 and not self.generated

    def default_selection_name(self) -> str:
        taken, k = self.workspace.selections, len(self.workspace.selections) + 1
        while f"selection {k}" in taken:
            k += 1
        return f"selection {k}"

    def save_selection(self, name: str = "") -> str | None:
        """Name the selection (default: ``default_selection_name``) in the workspace; its name, or None."""
        if not self.can_save_selection:
            return None
        name = name.strip() or self.default_selection_name()
        self.workspace.add_selection(name, self.selection)
        return name

    def show_selection(self, name: str) -> None:
        """Select the points of a named selection again."""
        indices = self.workspace.selections.get(name)
        if indices is not None and not self.generated:
            self.select(indices)

    def remove_selection(self, name: str) -> None:
        self.workspace.remove_selection(name)

    # --- exports and the screenshot -------------------------------------------------------------
    def _export_data(self) -> ImageData:
        if self.embedding is None:
            raise LatentExplorerError("there is no map to export yet")
        return generated_data(self.embedding) if self.generated else self.workspace.data

    def export_csv(self, path: Path) -> Path:
        """The map's coordinates and labels as CSV, with the named selections of its items
        (``core.image.export.write_coordinates_csv``)."""
        data = self._export_data()
        return write_coordinates_csv(path, self.embedding.coords, data,
                                     None if self.generated else self.workspace.selections)

    def projector_work(self, folder: Path) -> Work:
        """The work that writes TensorBoard Embedding Projector files of the map's codes in ``folder``."""
        data = self._export_data()
        name = f"{self.model.name if self.model is not None else 'pixel'} codes"
        return Work(f"writing Embedding Projector files in {folder}", write_projector,
                    (Path(folder), self.embedding.codes, data, name))

    def boundary_item(self, count: int) -> int:
        """An item where two classes meet on the map: its ``count`` nearest items on the map have the
        largest second-most-common label (item 0 for unlabelled data and generated samples)."""
        labels, coords = self.labels, self.embedding.coords
        if labels is None:
            return 0
        from scipy.spatial import cKDTree
        candidates = np.random.default_rng(0).permutation(len(coords))[:300]
        _, near = cKDTree(coords).query(coords[candidates], k=min(count, len(coords)))
        second = [np.sort(np.bincount(labels[row]))[-2] if len(np.unique(labels[row])) > 1 else 0
                  for row in np.atleast_2d(near)]
        return int(candidates[int(np.argmax(second))])
