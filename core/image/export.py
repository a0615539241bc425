"""Export a map: a CSV of 2-D coordinates and labels, and the files TensorBoard's Embedding Projector
reads (codes TSV, metadata TSV, sprite PNG and ``projector_config.pbtxt``).

To view the projector files: ``tensorboard --logdir FOLDER`` and open the Projector tab; or load
``tensors.tsv`` and ``metadata.tsv`` at https://projector.tensorflow.org (Load).
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from ..errors import LatentExplorerError
from .data import ImageData
from .embedding import label_names
from .imaging import save_png, tile

#: TensorBoard's largest sprite side, in pixels.
SPRITE_MAX_SIDE = 8192
PROJECTOR_FILES = ("tensors.tsv", "metadata.tsv", "sprite.png", "projector_config.pbtxt")


def write_coordinates_csv(path: Path, coords: np.ndarray, data: ImageData,
                          selections: dict[str, np.ndarray] | None = None) -> Path:
    """One row per item: ``index, x, y, label`` (the class name, or empty without labels), and with named
    ``selections`` (name -> item indices) a ``selections`` column naming those the item is in (``;`` between)."""
    coords = np.asarray(coords)
    selections = selections or {}
    member = [[] for _ in range(len(data))]
    for name, indices in selections.items():
        for i in np.asarray(indices, dtype=np.int64).tolist():
            if 0 <= i < len(data):
                member[i].append(name)
    if coords.shape != (len(data), 2):
        raise LatentExplorerError(f"coordinates shaped {coords.shape} do not fit {len(data)} items")
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["index", "x", "y", "label", *(["selections"] if selections else [])])
            writer.writerows((i, f"{x:.6g}", f"{y:.6g}", label, *([";".join(member[i])] if selections else []))
                             for i, ((x, y), label) in enumerate(zip(coords.tolist(), label_names(data))))
    except OSError as exc:
        raise LatentExplorerError(f"could not write {path}: {exc.strerror or exc}") from exc
    return path


def sprite(data: ImageData) -> tuple[np.ndarray, int]:
    """All images tiled row by row in item order in a square grid (TensorBoard's layout: ceil(sqrt(N))
    cells a side, at most SPRITE_MAX_SIDE pixels); returns the (H, W, 3) picture and the side of a cell."""
    n = len(data)
    per_row = math.ceil(math.sqrt(n))
    h, w = data.image_shape[1:]
    cell = min(max(h, w), SPRITE_MAX_SIDE // per_row)
    images = data.images
    if (h, w) != (cell, cell):
        import torch.nn.functional as F
        images = F.interpolate(images.float(), size=(cell, cell), mode="area").round().clamp(0, 255).byte()
    rows = tile(images, per_row, pad=0)
    square = np.zeros((per_row * cell, per_row * cell, 3), np.uint8)
    square[:len(rows)] = rows
    return square, cell


def write_projector(folder: Path, codes: np.ndarray, data: ImageData, name: str = "latent codes") -> list[Path]:
    """The Embedding Projector's files for ``codes`` (N, D) of ``data`` in ``folder``; returns their paths."""
    codes = np.asarray(codes, np.float32)
    if codes.ndim != 2 or len(codes) != len(data):
        raise LatentExplorerError(f"codes shaped {codes.shape} do not fit {len(data)} items")
    folder = Path(folder)
    paths = [folder / f for f in PROJECTOR_FILES]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        np.savetxt(paths[0], codes, fmt="%.6g", delimiter="\t")
        with open(paths[1], "w", encoding="utf-8", newline="") as f:
            f.write("index\tlabel\n")  # two columns: the projector then expects this header line
            f.writelines(f"{i}\t{_tsv_field(label)}\n" for i, label in enumerate(label_names(data)))
        picture, cell = sprite(data)
        save_png(paths[2], picture)
        paths[3].write_text(
            "embeddings {\n"
            f"  tensor_name: {_quoted(name)}\n"
            f'  tensor_path: "{PROJECTOR_FILES[0]}"\n'
            f'  metadata_path: "{PROJECTOR_FILES[1]}"\n'
            "  sprite {\n"
            f'    image_path: "{PROJECTOR_FILES[2]}"\n'
            f"    single_image_dim: {cell}\n"
            f"    single_image_dim: {cell}\n"
            "  }\n"
            "}\n", encoding="utf-8")
    except OSError as exc:
        raise LatentExplorerError(f"could not write the projector files in {folder}: {exc.strerror or exc}") from exc
    return paths


def _quoted(text: str) -> str:
    """A protobuf text-format string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _tsv_field(text: str) -> str:
    return text.replace("\t", " ").replace("\n", " ")
