"""Training metrics: R² of reconstructions and the ``metrics.jsonl`` log, readable while it is written."""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path

import torch

from ..errors import LatentExplorerError, os_error_words
from .files import usual_mode


def r2_score(target: torch.Tensor, prediction: torch.Tensor) -> float:
    """1 - residual variance / data variance (per-feature variance about the batch mean, summed)."""
    t = target.detach().flatten(1).to("cpu", torch.float64)
    p = prediction.detach().flatten(1).to("cpu", torch.float64)
    ss_res = (t - p).pow(2).sum()
    ss_tot = (t - t.mean(dim=0)).pow(2).sum()
    return float(1.0 - ss_res / ss_tot) if ss_tot > 0 else float("nan")


class MetricsLog:
    """JSON-lines log, one object per logged step; each line is flushed as it is written.

    Each log is a new file (written aside, then renamed over ``metrics.jsonl``) that starts with ``rows``
    (a resumed run's history), so it always matches the checkpoint and a follower sees a new file, not an
    old one rewritten. A failed write (disk full, ...) raises one line naming the file and takes back the
    partial line.
    """

    def __init__(self, path: Path, rows: list[dict] = ()):
        self.path = Path(path)
        tmp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
            self._file = os.fdopen(fd, "w", encoding="utf-8")
            self._file.writelines(json.dumps(_clean(row)) + "\n" for row in rows)
            self._file.flush()
            usual_mode(tmp)
            os.replace(tmp, self.path)
        except OSError as exc:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            raise self._error(exc) from exc
        self._size = self._file.tell()

    def write(self, row: dict) -> None:
        try:
            self._file.write(json.dumps(_clean(row)) + "\n")
            self._file.flush()
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self._file.fileno(), self._size)  # no torn line stays behind
            raise self._error(exc) from exc
        self._size = self._file.tell()

    def close(self) -> None:
        with contextlib.suppress(OSError):  # a write that failed has said so already
            self._file.close()

    def _error(self, exc: OSError) -> LatentExplorerError:
        return LatentExplorerError(f"{self.path}: could not write the metrics log ({os_error_words(exc)})")


class MetricsReader:
    """Reads the rows added to a ``metrics.jsonl`` since the last call, while another process writes it.

    A half-written last line waits for the next call; a line that is not a JSON object is skipped and
    counted in ``skipped``. When the log starts over (a new or resumed run writes a new file, or one is
    rewritten in place: shorter, or with other first bytes), reading starts over too and ``restarts``
    counts it. The open file is held between calls, so its identity cannot be reused by another file.
    """

    HEAD_BYTES = 256

    def __init__(self, path: Path):
        self.path = Path(path)
        self.restarts = 0
        self.skipped = 0
        self._file = None
        self._offset = 0
        self._partial = b""  # the start of a line not yet ended
        self._head = b""  # the file's first bytes as last seen

    def read_new(self) -> list[dict]:
        if self._file is None or self._started_over():
            if not self._open():
                return []
        self._file.seek(self._offset)
        new = self._file.read()
        self._offset += len(new)
        chunk = self._partial + new
        end = chunk.rfind(b"\n") + 1
        self._partial = chunk[end:]
        if len(self._head) < self.HEAD_BYTES:
            self._head = os.pread(self._file.fileno(), self.HEAD_BYTES, 0)
        rows = []
        for line in chunk[:end].splitlines():
            if line.strip():
                row = _json_object(line)
                if row is None:
                    self.skipped += 1
                else:
                    rows.append(row)
        return rows

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self) -> bool:
        """(Re)open the file from its start; False while there is none."""
        seen = self._file is not None
        self.close()
        try:
            self._file = open(self.path, "rb")
        except FileNotFoundError:
            return False
        self.restarts += seen
        self._offset, self._partial, self._head = 0, b"", b""
        return True

    def _started_over(self) -> bool:
        try:
            now, held = os.stat(self.path), os.fstat(self._file.fileno())
        except FileNotFoundError:
            return False  # gone for now: keep what was read
        return ((now.st_dev, now.st_ino) != (held.st_dev, held.st_ino) or now.st_size < self._offset
                or os.pread(self._file.fileno(), len(self._head), 0) != self._head)


def read_metrics(path: Path) -> list[dict]:
    reader = MetricsReader(path)
    try:
        return reader.read_new()
    finally:
        reader.close()


def _json_object(line: bytes) -> dict | None:
    try:
        row = json.loads(line)
    except ValueError:  # not JSON, or not UTF-8
        return None
    return row if isinstance(row, dict) else None


def _clean(row: dict) -> dict:
    """JSON has no NaN/inf: write them as null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
