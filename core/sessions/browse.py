"""The data browser's session: a data set's items, all or one label's, with their names and pictures."""
from __future__ import annotations

import numpy as np

from ..image.data import ImageData


def class_name(data: ImageData, label: int) -> str:
    """The name of class ``label`` ('person 1', '3'), or the number when the data set names none."""
    names = data.class_names
    return names[label] if names and 0 <= label < len(names) else str(label)


def item_label(data: ImageData, index: int) -> str:
    """'item 12 · person 1': the index and, when there are labels, the class."""
    if data.labels is None:
        return f"item {index}"
    return f"item {index} · {class_name(data, int(data.labels[index]))}"


def label_counts(data: ImageData) -> list[tuple[int, int]]:
    """(label, how many items have it) for each label of the data set, in order; none without labels."""
    if data.labels is None:
        return []
    values, counts = np.unique(data.labels, return_counts=True)
    return [(int(v), int(c)) for v, c in zip(values, counts)]


class BrowseSession:
    """Which items show (all, or those of one label) and the picture of each, as uint8 (C, H, W)."""

    def __init__(self, data: ImageData):
        self.data = data
        self.label: int | None = None
        self.indices = np.arange(len(data))

    def show_label(self, label: int | None) -> None:
        """Show the items of ``label`` only (None: all)."""
        self.label = label
        self.indices = np.arange(len(self.data)) if label is None else np.flatnonzero(self.data.labels == label)

    def item(self, row: int) -> int:
        return int(self.indices[row])

    def row_of(self, item: int) -> int | None:
        """The row that shows data item ``item``, or None when it is filtered out."""
        rows = np.flatnonzero(self.indices == item)
        return int(rows[0]) if len(rows) else None

    def picture(self, item: int) -> np.ndarray:
        return self.data.images[item].numpy()

    def describe(self) -> str:
        """'1,797 images', or why there are none."""
        return f"{len(self.indices):,} images" if len(self.indices) else "no images with this label"
