"""The Morph panel's session: two pictures A and B, the morph between their codes, and attribute vectors (mean
code of group A minus mean code of group B: the lecture's "smile vector") applied to A.

A and B come from the workspace's data set (an item's index) or an image file, fitted to the model's image
shape. Everything that runs the model is a ``Work``: its ``compute`` is a function of this module that sees
only its arguments; its ``apply`` stores the result unless the session has started over (another model or data
set) or the request has been superseded meanwhile. Pictures are uint8 arrays (N, C, H, W).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models import GenerativeModel

from ..errors import LatentExplorerError
from ..image import latent
from ..image.data import ImageData
from ..image.data import read_image_file
from ..image.imaging import export_scale, save_gif, save_grid, to_uint8
from ..runs.quicktrain import faces_demo
from . import Work
from .browse import class_name, item_label, label_counts
from .workspace import Workspace

ENDS = ("A", "B")
METHODS = latent.METHODS
STEPS_RANGE = (2, 24)
GROUP_LIMIT = 1000  # items per group encoded for an attribute vector (a random subset of larger groups)
SLOW_GROUP_LIMIT = 64  # the same for models that search for each code (GAN, diffusion): seconds per batch
FACES_DEMO_S = 25.0
STRIP_CELL, GIF_FRAME_MS = 128, 120  # exports: pixels per picture of the PNG strip, milliseconds per GIF frame


@dataclass
class Endpoint:
    """One end of the morph: the picture, where it came from, and its code."""
    image: np.ndarray  # uint8 (1, C, H, W)
    label: str
    code: np.ndarray  # (latent_dim,)


# --- what runs off the session's thread --------------------------------------------------------
def encode_picture(model: GenerativeModel, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the picture, its code)."""
    return image, latent.encode_images(model, torch.from_numpy(image))[0]


def encode_file(model: GenerativeModel, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(the picture in ``path`` fitted to the model's image shape, its code); unreadable files and
    decompression bombs are a ``DataError`` that names the file."""
    return encode_picture(model, read_image_file(path, model.image_shape).numpy())


def decode_pictures(model: GenerativeModel, codes: np.ndarray) -> np.ndarray:
    """uint8 pictures (N, C, H, W) of codes (N, latent_dim)."""
    return to_uint8(latent.decode_codes(model, codes))


def group_codes(model: GenerativeModel, data: ImageData, indices_a: np.ndarray, indices_b: np.ndarray,
                limit: int = GROUP_LIMIT, seed: int = 0) -> tuple[np.ndarray, str]:
    """The attribute vector of two groups of items (each capped at ``limit`` random items) and the model's
    fingerprint."""
    rng = np.random.default_rng(seed)
    picked = [np.sort(rng.choice(ix, limit, replace=False)) if len(ix) > limit else ix
              for ix in (indices_a, indices_b)]
    if min(len(ix) for ix in picked) == 0:
        raise LatentExplorerError("both groups need at least one item")
    codes_a, codes_b = (latent.encode_data(model, data, ix) for ix in picked)
    return latent.attribute_vector(codes_a, codes_b), latent.model_fingerprint(model)


def vectors_from_file(path: Path, model: GenerativeModel) -> tuple[list[latent.AttributeVector], list[str]]:
    """The vectors in ``path`` (checked against the model's latent size) and the names of those made with
    another model."""
    vectors = latent.load_vectors(path, model.latent_dim)
    fingerprint = latent.model_fingerprint(model)
    return vectors, [v.name for v in vectors if v.fingerprint and v.fingerprint != fingerprint]


# --- the session -------------------------------------------------------------------------------
class MorphSession:
    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self.ends: dict[str, Endpoint | None] = dict.fromkeys(ENDS)
        self.picking: dict[str, str] = {}  # end -> label of the pick under way
        self._pending: dict[str, int] = {}  # end -> number of the pick under way
        self.method, self.steps, self.t = "linear", 8, 0.5
        self.strip: np.ndarray | None = None  # the decoded steps from A to B
        self.strip_title = ""
        self.scrubbed: np.ndarray | None = None  # the one morph at ``t``
        self.scrubbed_t: float | None = None
        self.vectors: list[latent.AttributeVector] = []
        self.current = -1  # the vector applied to A
        self.strength = 1.0
        self.applied: np.ndarray | None = None  # A, then A + strength × the current vector
        self.applied_title = ""
        self._generation = 0
        self._picks = 0

    # --- what the session can do now ---------------------------------------------------------
    @property
    def model(self) -> GenerativeModel | None:
        return self.workspace.model

    @property
    def can_morph(self) -> bool:
        """A model that turns pictures into codes and back."""
        caps = self.model.capabilities if self.model is not None else None
        return caps is not None and caps.modality == "image" and caps.encodes and caps.decodes

    @property
    def data_fits(self) -> bool:
        return self.can_morph and self.workspace.model_fits_data

    def can_pick_item(self, index: int) -> bool:
        return self.data_fits and 0 <= index < len(self.workspace.data)

    @property
    def codes(self) -> tuple[np.ndarray, np.ndarray] | None:
        a, b = self.ends["A"], self.ends["B"]
        return (a.code, b.code) if a is not None and b is not None else None

    def describe(self) -> str:
        """One line on what can be morphed (or why nothing can)."""
        model, data = self.model, self.workspace.data
        if model is None:
            return "No model yet: train one, open a checkpoint, or try the Faces demo."
        if not self.can_morph:
            return f"{model.name} models cannot turn pictures into codes and back, so there is nothing to morph."
        text = f"Model: {model.name}, {model.latent_dim}-dim latent."
        if model.capabilities.encodes_slowly:
            text += " It searches for each picture's code: picks take seconds."
        if data is not None and not self.data_fits:
            text += (f" It takes pictures {list(model.image_shape)}, {data.name} has {list(data.image_shape)}: "
                     "pick A and B from image files.")
        return text

    def faces_demo_note(self) -> str:
        """What the Faces demo replaces, for a question before it starts ('' when there is nothing to lose)."""
        if self.model is None:
            return ""
        data = self.workspace.data
        opened = f"{data.name} and the {self.model.name} model" if data is not None else f"the {self.model.name} model"
        return f"The Faces demo replaces {opened} with the Olivetti faces and a face VAE trained now."

    # --- starting over -----------------------------------------------------------------------------
    def start_over(self) -> dict[str, Work]:
        """Forget A, B and what was decoded (the model or data changed); the Works that pick the default A
        and B, two items of different classes, when the data fits the model (by end)."""
        self._generation += 1
        self.ends = dict.fromkeys(ENDS)
        self.picking.clear()
        self._pending.clear()
        self.strip = self.scrubbed = self.applied = None
        self.scrubbed_t = None
        self.strip_title = self.applied_title = ""
        if not self.data_fits:
            return {}
        return {"A": self.pick_item("A", 0), "B": self.pick_item("B", self._far_item())}

    def _far_item(self) -> int:
        """An item a quarter of the way in, or the first with another label than item 0."""
        data = self.workspace.data
        candidate = len(data) // 4
        if data.labels is not None and data.labels[candidate] == data.labels[0]:
            other = np.flatnonzero(data.labels != data.labels[0])
            candidate = int(other[0]) if len(other) else candidate
        return candidate

    # --- picking A and B -------------------------------------------------------------------------
    def pick_item(self, end: str, index: int) -> Work:
        """Item ``index`` of the open data set as ``end`` (A or B)."""
        if not self.can_pick_item(index):
            raise LatentExplorerError(f"item {index} cannot be picked: {self.describe()}")
        data = self.workspace.data
        image = data.images[index:index + 1].numpy().copy()
        return self._pick(end, item_label(data, index), encode_picture, image)

    def pick_current(self, end: str) -> Work:
        """The workspace's current item (the one last picked on the map) as ``end``."""
        return self.pick_item(end, self.workspace.current_index)

    def pick_file(self, end: str, path: str | Path) -> Work:
        """The picture in image file ``path`` as ``end``, fitted to the model's image shape."""
        if not self.can_morph:
            raise LatentExplorerError(self.describe())
        path = Path(path)
        return self._pick(end, f"file {path.name}", encode_file, path)

    def _pick(self, end: str, label: str, compute, source) -> Work:
        if end not in ENDS:
            raise ValueError(f"end must be one of {ENDS}, got {end!r}")
        self._picks += 1
        generation, pick = self._generation, self._picks
        self._pending[end], self.picking[end] = pick, label

        def apply(result) -> bool:
            if generation != self._generation or self._pending.get(end) != pick:
                return False  # superseded by a newer pick, model or data set
            self.failed_pick(end)
            self.ends[end] = Endpoint(result[0], label, result[1])
            return True

        return Work(f"encoding {label}", compute, (self.model, source), apply)

    def failed_pick(self, end: str) -> None:
        """The pick under way for ``end`` is over (it went wrong, say an unreadable file: ``end`` keeps what
        it had)."""
        self._pending.pop(end, None)
        self.picking.pop(end, None)

    # --- the strip and the scrub ------------------------------------------------------------------
    def set_morph(self, method: str | None = None, steps: int | None = None, t: float | None = None) -> None:
        if method is not None:
            if method not in METHODS:
                raise ValueError(f"method must be one of {METHODS}, got {method!r}")
            self.method = method
        if steps is not None:
            self.steps = int(np.clip(steps, *STEPS_RANGE))
        if t is not None:
            self.t = float(np.clip(t, 0.0, 1.0))

    def strip_work(self) -> Work | None:
        """Decode ``steps`` codes from A to B (None until both are encoded)."""
        if self.codes is None:
            return None
        generation, method, ends = self._generation, self.method, (self.ends["A"], self.ends["B"])
        codes = latent.interpolate(*self.codes, self.steps, method)

        def apply(pictures: np.ndarray) -> None:
            if generation == self._generation and self.ends["A"] is ends[0] and self.ends["B"] is ends[1]:
                self.strip = pictures
                self.strip_title = f"{len(pictures)} decoded steps, {method}: {ends[0].label} → {ends[1].label}"

        return Work("decoding the morph", decode_pictures, (self.model, codes), apply)

    def scrub_work(self) -> Work | None:
        """Decode the one code a fraction ``t`` of the way from A to B."""
        if self.codes is None:
            return None
        generation, t = self._generation, self.t
        code = latent.morph(*self.codes, t, self.method)

        def apply(pictures: np.ndarray) -> None:
            if generation == self._generation:
                self.scrubbed, self.scrubbed_t = pictures, t

        return Work("decoding the morph", decode_pictures, (self.model, code), apply)

    def save_strip_png(self, path: str | Path) -> Path:
        """The strip as one PNG row, each picture enlarged to about ``STRIP_CELL`` pixels."""
        return save_grid(Path(path), self._strip(), cell=STRIP_CELL)

    def save_strip_gif(self, path: str | Path) -> Path:
        """The strip as an animated GIF that plays forth and back."""
        strip = self._strip()
        return save_gif(Path(path), strip, frame_ms=GIF_FRAME_MS, scale=export_scale(strip.shape[-2]))

    def _strip(self) -> np.ndarray:
        if self.strip is None:
            raise LatentExplorerError("nothing to save yet: pick A and B first")
        return self.strip

    # --- attribute vectors ----------------------------------------------------------------------
    def group_choices(self) -> list[tuple[str, str]]:
        """(key, text) of the groups a vector can be made from: the workspace's named selections, then
        one per label."""
        data = self.workspace.data
        choices = [(f"selection:{name}", f"selection: {name} ({len(ix)})")
                   for name, ix in self.workspace.selections.items()]
        if data is not None:
            choices += [(f"label:{label}", f"label: {class_name(data, label)} ({count})")
                        for label, count in label_counts(data)]
        return choices

    def group_indices(self, key: str) -> np.ndarray:
        """The data indices of a group: ``selection:<name>`` or ``label:<value>``."""
        kind, value = key.split(":", 1)
        if kind == "selection":
            return np.asarray(self.workspace.selections.get(value, []), dtype=np.int64)
        return np.flatnonzero(self.workspace.data.labels == int(value))

    def group_name(self, key: str) -> str:
        kind, value = key.split(":", 1)
        return value if kind == "selection" else class_name(self.workspace.data, int(value))

    def make_vector(self, key_a: str, key_b: str, name: str = "") -> Work:
        """The vector 'mean code of group A minus mean code of group B' (named ``name``, by default
        'A − B'); its ``apply`` adds it, makes it current and says what was made."""
        choices = dict(self.group_choices())
        if key_a not in choices or key_b not in choices or key_a == key_b:
            raise LatentExplorerError("Pick two different groups for A and B.")
        if not self.data_fits:
            raise LatentExplorerError(f"Cannot encode the groups: {self.describe()}")
        name = name.strip() or f"{self.group_name(key_a)} − {self.group_name(key_b)}"
        description = f"{choices[key_a]} − {choices[key_b]}"
        checkpoint = str(self.workspace.checkpoint_path or "")
        limit = SLOW_GROUP_LIMIT if self.model.capabilities.encodes_slowly else GROUP_LIMIT
        generation = self._generation

        def apply(result) -> str | None:
            if generation != self._generation:
                return None
            vector = latent.AttributeVector(name, result[0], description, checkpoint, result[1])
            self.add_vectors([vector])
            return f"Made {name!r}: {description}, length {np.linalg.norm(vector.vector):.2f}."

        return Work(f"encoding the groups for {name!r}", group_codes,
                    (self.model, self.workspace.data, self.group_indices(key_a), self.group_indices(key_b), limit),
                    apply)

    def add_vectors(self, vectors: list[latent.AttributeVector]) -> None:
        """Add vectors; the last one becomes current."""
        self.vectors.extend(vectors)
        if vectors:
            self.current = len(self.vectors) - 1

    def rename_vector(self, row: int, name: str) -> None:
        if name.strip():
            self.vectors[row].name = name.strip()

    def remove_vector(self, row: int) -> None:
        del self.vectors[row]
        self.current = min(self.current, len(self.vectors) - 1)

    def select_vector(self, row: int) -> None:
        self.current = row if 0 <= row < len(self.vectors) else -1

    def set_strength(self, strength: float) -> None:
        self.strength = float(strength)

    @property
    def current_vector(self) -> latent.AttributeVector | None:
        return self.vectors[self.current] if 0 <= self.current < len(self.vectors) else None

    def vector_misfit(self, vector: latent.AttributeVector) -> str:
        """Why ``vector`` cannot apply to the current model ('' when it can): made for codes of another size."""
        if self.model is None or len(vector.vector) == self.model.latent_dim:
            return ""
        return (f"{vector.name} was made for {len(vector.vector)}-d codes; this model's codes are "
                f"{self.model.latent_dim}-d, so it cannot apply (make or load a vector for this model)")

    def vector_work(self) -> Work | None:
        """Decode A and A + strength × the current vector (None, and nothing shown, without both; a vector made
        for another model's codes says so in ``applied_title``)."""
        a, vector = self.ends["A"], self.current_vector
        if a is None or vector is None or len(vector.vector) != len(a.code):
            self.applied, self.applied_title = None, self.vector_misfit(vector) if vector is not None else ""
            return None
        generation, strength = self._generation, self.strength
        codes = np.stack([a.code, latent.apply_vector(a.code, vector.vector, strength)])

        def apply(pictures: np.ndarray) -> None:
            if generation == self._generation:
                self.applied, self.applied_title = pictures, f"A, then A {strength:+.2f} × {vector.name}"

        return Work("applying the vector", decode_pictures, (self.model, codes), apply)

    def save_vectors(self, path: str | Path) -> Path:
        if not self.vectors:
            raise LatentExplorerError("no vectors to save yet: make or load one first")
        try:
            return latent.save_vectors(Path(path), self.vectors)
        except OSError as exc:
            raise LatentExplorerError(f"could not write {path}: {exc}") from exc

    def load_vectors(self, path: str | Path) -> Work:
        """Read the vectors in ``path`` (their size checked against the model's latent); ``apply`` adds them
        and says which were made with another model."""
        if self.model is None:
            raise LatentExplorerError("open a model before loading its attribute vectors")
        path, generation = Path(path), self._generation

        def apply(result) -> str | None:
            if generation != self._generation:
                return None
            vectors, foreign = result
            self.add_vectors(vectors)
            note = (f"; made with another model: {', '.join(foreign)} (they may mean something else here)"
                    if foreign else "")
            return f"Loaded {len(vectors)} vectors from {path.name}{note}"

        return Work(f"reading {path.name}", vectors_from_file, (path, self.model), apply)

    # --- the faces demo ----------------------------------------------------------------------------
    def faces_demo(self, seconds: float | None = None) -> Work:
        """Load the Olivetti faces and train a face VAE; ``apply`` makes them the workspace's data and model
        (start over afterwards)."""
        seconds = FACES_DEMO_S if seconds is None else seconds

        def apply(result) -> str:
            data, source, model = result
            self.workspace.set_data(data, source)
            self.workspace.set_model(model)
            return f"Faces demo: {len(data)} faces and a face VAE trained for {seconds:.0f} s."

        return Work(f"loading the Olivetti faces and training a face VAE for {seconds:.0f} s", faces_demo,
                    (seconds,), apply)
