"""Training metrics: R² of reconstructions and the ``metrics.jsonl`` log, readable while it is written."""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from .errors import TrainingError

try:
    import fcntl  # advisory locks: the writer of a run holds one on its log (not on Windows)
except ImportError:  # pragma: no cover
    fcntl = None


def r2_score(target: torch.Tensor, prediction: torch.Tensor) -> float:
    """1 - residual variance / data variance (per-feature variance about the batch mean, summed)."""
    t = target.detach().flatten(1).to("cpu", torch.float64)
    p = prediction.detach().flatten(1).to("cpu", torch.float64)
    ss_res = (t - p).pow(2).sum()
    ss_tot = (t - t.mean(dim=0)).pow(2).sum()
    return float(1.0 - ss_res / ss_tot) if ss_tot > 0 else float("nan")


class MetricsLog:
    """JSON-lines log, one object per logged step; each line is flushed as it is written.

    The file starts afresh with ``rows`` (a resumed run's history), so it always matches the checkpoint.
    While open, the log holds an exclusive lock on its file, which the operating system lets go when the
    writing process ends however it ends: ``writer_active`` tells a follower, and a second writer of the same
    run folder is refused instead of clobbering the first one's log.
    """

    def __init__(self, path: Path, rows: list[dict] = ()):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")
        if fcntl is not None:
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._file.close()
                raise TrainingError(f"{self.path.parent}: another process is training in this run folder") from None
        self._file.truncate(0)
        self._file.writelines(json.dumps(_clean(row)) + "\n" for row in rows)
        self._file.flush()

    def write(self, row: dict) -> None:
        self._file.write(json.dumps(_clean(row)) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class MetricsReader:
    """Reads the complete lines added to a ``metrics.jsonl`` since the last call (a run being written).

    When the file starts over (a new or resumed run in the same folder), reading starts over too, and
    ``restarts`` counts it.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.restarts = 0
        self._offset = 0
        self._head = b""  # the file's first bytes as last seen

    def read_new(self) -> list[dict]:
        if not self.path.exists():
            return []
        with open(self.path, "rb") as f:
            if f.read(len(self._head)) != self._head:
                self._offset, self._head = 0, b""
                self.restarts += 1
            f.seek(self._offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1  # a half-written last line waits for the next call
        if self._offset == 0:
            self._head = chunk[:min(end, 256)]
        self._offset += end
        return [json.loads(line) for line in chunk[:end].splitlines() if line.strip()]


def writer_active(path: Path) -> bool | None:
    """Whether a process still has the metrics log ``path`` open for writing (holds its lock); None where the
    platform cannot tell."""
    if fcntl is None:
        return None
    try:
        with open(path, "rb") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
            return False
    except FileNotFoundError:
        return False


def read_metrics(path: Path) -> list[dict]:
    return MetricsReader(path).read_new()


def _clean(row: dict) -> dict:
    """JSON has no NaN/inf: write them as null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
