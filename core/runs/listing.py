"""Run folders as their files tell it: what a run trains, how far it got and whether it still runs. A list
of runs (the GUI's, or a script's) reads them without the processes that train.

A run folder holds ``metrics.jsonl`` and ``checkpoint.pt`` (``core.train.loop``) and ``status.json``
(``core.train.status``). A run whose status still says ``running`` on this host but whose process is gone
``died`` (killed, or the machine went down).
"""
from __future__ import annotations

import json
import math
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from ..train.status import STATUS_FILE, read_status

#: keys of a metrics row that are not figures to plot
BOOKKEEPING = frozenset({"type", "step", "epoch", "progress", "eta_s", "samples_per_s", "time", "split", "world_size",
                         "val_items"})
TAIL_BYTES = 1 << 16  # the end of metrics.jsonl read for the latest rows


@dataclass(frozen=True)
class RunInfo:
    folder: Path
    state: str  # running, finished, stopped, failed, died, or unknown (no status file)
    model: str | None = None
    dataset: str | None = None
    epoch: float | None = None  # of the latest row
    epochs: int | None = None
    progress: float | None = None
    loss: float | None = None  # of the latest validation row (None before the first: never a training loss)
    r2: float | None = None  # of that row
    world_size: int = 1
    message: str | None = None  # why it failed
    updated: float = 0.0  # when a file of the run last changed (seconds since the epoch)


def run_info(folder: Path) -> RunInfo | None:
    """What the files in ``folder`` tell of its run; None when it is not a run folder."""
    folder = Path(folder)
    files = [folder / n for n in (STATUS_FILE, "metrics.jsonl", "checkpoint.pt")]
    stamps = [p.stat().st_mtime for p in files if p.is_file()]
    if not stamps:
        return None
    status, rows = read_status(folder), latest_rows(folder / "metrics.jsonl")
    last = rows[-1] if rows else {}
    val = next((r for r in reversed(rows) if r.get("split") == "val"), {})
    state = status.get("state", "unknown")
    if state == "running" and status.get("host") == socket.gethostname() and not _alive(status.get("pid")):
        state = "died"
    return RunInfo(folder, state, status.get("model"), status.get("dataset"), last.get("epoch"),
                   status.get("epochs"), last.get("progress"), val.get("loss"), val.get("r2"),
                   int(last.get("world_size") or status.get("world_size") or 1), status.get("message"), max(stamps))


def list_runs(root: Path) -> list[RunInfo]:
    """The run folders directly inside ``root``, the most recently changed first."""
    root = Path(root)
    infos = [run_info(p) for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    return sorted((i for i in infos if i is not None), key=lambda i: i.updated, reverse=True)


def latest_rows(path: Path) -> list[dict]:
    """The complete rows at the end of a metrics log (its last ``TAIL_BYTES``), oldest first."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - TAIL_BYTES))
            chunk = f.read()
    except OSError:
        return []
    lines = chunk.split(b"\n")
    lines = lines[1:-1] if size > TAIL_BYTES else lines[:-1]  # a cut first line; a half-written last one
    rows = []
    for line in lines:
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def _alive(pid) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def metric_values(row: dict) -> dict[str, float]:
    """The plottable entries of a metrics row: finite numbers under non-bookkeeping keys."""
    return {k: float(v) for k, v in row.items()
            if k not in BOOKKEEPING and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
