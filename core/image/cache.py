"""The app's on-disk cache: computed arrays (latent codes, 2-D maps) and numba's compiled code.

Everything lives under ``cache_root()``: ``$LATENT_EXPLORER_CACHE`` or ``~/.cache/latent-explorer``.
Deleting it only costs time: whatever was there is computed again.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from ..train.files import usual_mode

#: Each array cache keeps at most this many files; the least recently used go first.
MAX_FILES = 200


def cache_root() -> Path:
    return Path(os.environ.get("LATENT_EXPLORER_CACHE", Path.home() / ".cache" / "latent-explorer"))


class ArrayCache:
    """numpy arrays by key (a hex digest) in one folder, written atomically; unreadable files are misses."""

    def __init__(self, folder: Path, max_files: int = MAX_FILES):
        self.folder = Path(folder)
        self.max_files = max_files

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        path = self._path(key)
        try:
            array = np.load(path, allow_pickle=False)
            os.utime(path)  # recently used: pruned last
            return array
        except (OSError, ValueError, EOFError):
            return None

    def put(self, key: str, array: np.ndarray) -> None:
        """Store ``array``; a cache that cannot be written (read-only disk, full disk) is skipped silently."""
        tmp = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=key, suffix=".tmp", dir=self.folder)
            with os.fdopen(fd, "wb") as f:
                np.save(f, np.ascontiguousarray(array), allow_pickle=False)
            usual_mode(tmp)
            os.replace(tmp, self._path(key))
            self._prune()
        except OSError:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)

    def _prune(self) -> None:
        files = sorted(self.folder.glob("*.npy"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[self.max_files:]:
            old.unlink(missing_ok=True)
