"""Finding one's way on a map: its clusters, named, and a search by label, item index or file name.

Clusters are found on the 2-D map itself (scikit-learn's HDBSCAN on a sample of ``CLUSTER_SAMPLE``
points, so a million items cost as much as a few thousand) and named by their majority label, with its
share where the cluster is mixed; unlabelled clusters are numbered. Each keeps a typical item: the
sampled member nearest its centre, where the name is drawn.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

CLUSTER_SAMPLE = 5000
PURE = 0.9  # a cluster whose majority label has at least this share is named by the label alone


@dataclass
class Cluster:
    x: float
    y: float
    name: str
    size: int  # about how many items it holds
    typical: int  # the item at its centre


def name_clusters(coords: np.ndarray, labels: np.ndarray | None = None, class_names: list[str] | None = None,
                  seed: int = 0) -> list[Cluster]:
    """The map's clusters, largest first (none for fewer than 20 points)."""
    from sklearn.cluster import HDBSCAN
    n = len(coords)
    if n < 20:
        return []
    sample = np.sort(np.random.default_rng(seed).choice(n, min(n, CLUSTER_SAMPLE), replace=False))
    found = HDBSCAN(min_cluster_size=max(10, len(sample) // 100), copy=True).fit(coords[sample]).labels_
    clusters = []
    for k in range(found.max() + 1):
        members = sample[found == k]
        centre = np.median(coords[members], axis=0)
        typical = int(members[np.argmin(np.square(coords[members] - centre).sum(axis=1))])
        if labels is not None:
            counts = np.bincount(labels[members])
            top = int(np.argmax(counts))
            share = counts[top] / len(members)
            label = class_names[top] if class_names and top < len(class_names) else str(top)
            name = label if share >= PURE else f"{label} ({share:.0%})"
        else:
            name = f"cluster {k + 1}"
        clusters.append(Cluster(float(coords[typical, 0]), float(coords[typical, 1]), name,
                                int(round(len(members) * n / len(sample))), typical))
    return sorted(clusters, key=lambda c: -c.size)


@dataclass
class Found:
    """What a search found: the items, and what they are (for the status line)."""
    indices: np.ndarray
    what: str


def search(text: str, count: int, labels: np.ndarray | None = None, class_names: list[str] | None = None,
           files: list[str] | None = None) -> Found:
    """Items matching ``text``: ``#12`` or ``12`` is item 12; a class name (exact, any case; else every
    class whose name contains it) is its items; otherwise the items whose file name contains it."""
    query = text.strip()
    if not query:
        return Found(np.zeros(0, np.int64), "")
    number = re.fullmatch(r"#?\s*(\d+)", query)
    names = [c.lower() for c in class_names or []] if labels is not None else []
    if number and query.lower() not in names:
        i = int(number.group(1))
        if i < count:
            return Found(np.array([i], np.int64), f"item #{i}")
        return Found(np.zeros(0, np.int64), f"no item #{i}: the map has items #0 to #{count - 1}")
    wanted = [k for k, name in enumerate(names) if name == query.lower()] or \
             [k for k, name in enumerate(names) if query.lower() in name]
    if wanted:
        indices = np.flatnonzero(np.isin(labels, wanted))
        shown = ", ".join(class_names[k] for k in wanted[:5]) + (" …" if len(wanted) > 5 else "")
        return Found(indices, f"{len(indices):,} items of {shown}")
    if files:
        indices = np.array([i for i, f in enumerate(files) if query.lower() in f.lower()], np.int64)
        if len(indices):
            what = f"{len(indices):,} files matching {query!r}" if len(indices) > 1 else files[indices[0]]
            return Found(indices, what)
    kinds = "a class, #index" + (" or file name" if files else "")
    return Found(np.zeros(0, np.int64), f"nothing matches {query!r} ({kinds})")
