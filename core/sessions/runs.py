"""The runs list, headless: every run folder under the runs root and the folders the user added or followed,
as their files tell it (family, data set, status, progress, final validation loss and R²); which runs are
ticked; and for the ticked ones their curves and a table of their settings and final metrics, to compare them
as TensorBoard or W&B do.

A run's status: ``running`` while a live process owns its folder (``core.train.folder``); else ``finished``,
``stopped`` or ``failed`` as its ``status.json`` says, and ``killed`` where that still says running (nobody
owns the folder: its process was killed, or its machine went down). A folder of an older version without
``status.json`` is finished when its log reached the last epoch, else stopped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..runs.listing import metric_values, run_info
from ..train.folder import METRICS_NAME, RunFolder
from ..train.metrics import read_metrics
from ..train.status import read_status
from . import Work

LIST_COLUMNS = ("Run", "Family", "Data set", "Status", "Progress", "Val loss", "R²")
TABLE_COLUMNS = ("Run", "Family", "Data set", "Status", "Epochs", "Batch", "Learning rate", "Processes")
FINAL_COLUMNS = ("Val loss", "R²")
ALIVE = "running"


@dataclass(frozen=True)
class RunRow:
    folder: Path
    status: str  # running, finished, stopped, failed or killed
    family: str = ""
    dataset: str = ""
    epoch: float | None = None  # of the latest logged row
    epochs: int | None = None
    progress: float | None = None
    val_loss: float | None = None
    r2: float | None = None
    world_size: int = 1
    batch_size: int | None = None
    lr: float | None = None
    settings: dict = field(default_factory=dict)  # the model settings the user chose
    message: str = ""  # why it failed
    updated: float = 0.0

    @property
    def name(self) -> str:
        return self.folder.name

    def describe_progress(self) -> str:
        if self.epoch is None:
            return "—"
        total = self.epochs or (round(self.epoch / self.progress) if self.progress else None)
        return f"{self.epoch:.1f} / {total} epochs" if total else f"{self.epoch:.1f} epochs"

    def cells(self) -> tuple[str, ...]:
        """The runs list's cells (``LIST_COLUMNS``)."""
        return (self.name, self.family or "—", short_dataset(self.dataset), self.status, self.describe_progress(),
                number(self.val_loss), number(self.r2))


def short_dataset(source: str) -> str:
    return Path(source).name or source or "—"


def number(value) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return "—"
    return f"{value:.4g}"


def read_run(folder: Path) -> RunRow | None:
    """What ``folder``'s files tell of its run; None when it is not a run folder."""
    info = run_info(folder)
    if info is None:
        return None
    if RunFolder(folder).state().kind == "owned":
        status = ALIVE
    elif info.state in ("running", "died"):
        status = "killed"
    elif info.state == "unknown":
        status = "finished" if (info.progress or 0.0) >= 1.0 - 1e-9 else "stopped"
    else:
        status = info.state
    recorded = read_status(folder)
    settings = recorded.get("settings")
    return RunRow(Path(folder), status, info.model or "", info.dataset or "", info.epoch, info.epochs, info.progress,
                  info.loss, info.r2, info.world_size, recorded.get("batch_size"), recorded.get("lr"),
                  settings if isinstance(settings, dict) else {}, info.message or "", info.updated)


def run_folders(roots: list[Path], added: list[Path]) -> list[Path]:
    """The folders to list: those directly inside each root, and each added folder (a run folder, or a folder
    of runs), each once."""
    seen: dict[Path, None] = {}
    for folder in [*roots, *added]:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        if folder in added and run_info(folder) is not None:
            seen.setdefault(folder.resolve())
            continue
        for child in sorted(folder.iterdir()):
            if child.is_dir():
                seen.setdefault(child.resolve())
    return list(seen)


def scan_runs(roots: list[Path], added: list[Path]) -> list[RunRow]:
    """Every run under ``roots`` and ``added``, the most recently changed first (pure: any thread)."""
    rows = [read_run(folder) for folder in run_folders(roots, added)]
    return sorted((r for r in rows if r is not None), key=lambda r: r.updated, reverse=True)


def run_curves(rows: list[dict]) -> dict[str, tuple[list[float], list[float]]]:
    """A run's curve per metric, x = epoch: its validation rows where it logs the metric there (one point per
    epoch, comparable across batch sizes), else its train rows."""
    by_split: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for row in rows:
        split = "val" if row.get("split") == "val" else "train"
        epoch = row.get("epoch")
        if not isinstance(epoch, (int, float)):
            continue
        for key, value in metric_values(row).items():
            xs, ys = by_split.setdefault((key, split), ([], []))
            xs.append(float(epoch))
            ys.append(value)
    keys = {key for key, _ in by_split}
    return {key: by_split.get((key, "val")) or by_split[key, "train"] for key in sorted(keys)}


def read_curves(folders: list[Path]) -> dict[Path, dict[str, tuple[list[float], list[float]]]]:
    """The curves of each run in ``folders`` from its whole metrics log (pure: any thread)."""
    return {Path(f): run_curves(read_metrics(Path(f) / METRICS_NAME)) for f in folders}


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]


class RunsSession:
    """The runs list's state: where runs are looked for, the rows last read, the runs ticked (in the order
    they were ticked) and their curves."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.added: list[Path] = []
        self.rows: list[RunRow] = []
        self.ticked: list[Path] = []
        self.curves: dict[Path, dict[str, tuple[list[float], list[float]]]] = {}

    def add(self, folder: str | Path) -> bool:
        """List ``folder`` too (a run folder, or a folder of runs); False if it is listed already."""
        folder = Path(folder).expanduser().resolve()
        if folder in self.added or folder.parent == self.root.resolve() or folder == self.root.resolve():
            return False
        self.added.append(folder)
        return True

    def scan(self) -> Work:
        return Work("Reading the run folders", scan_runs, ([self.root], list(self.added)), self._scanned)

    def _scanned(self, rows: list[RunRow]) -> list[RunRow]:
        self.rows = rows
        return rows

    def row(self, folder: Path) -> RunRow | None:
        return next((r for r in self.rows if r.folder == Path(folder)), None)

    def set_ticked(self, folder: Path, on: bool) -> None:
        folder = Path(folder)
        if on and folder not in self.ticked:
            self.ticked.append(folder)
        elif not on and folder in self.ticked:
            self.ticked.remove(folder)
            self.curves.pop(folder, None)

    def ticked_rows(self) -> list[RunRow]:
        return [r for r in (self.row(f) for f in self.ticked) if r is not None]

    def read_ticked(self) -> Work:
        """The Work that reads the ticked runs' curves."""
        return Work("Reading the curves of the ticked runs", read_curves, (list(self.ticked),), self._curves_read)

    def _curves_read(self, curves: dict) -> dict:
        self.curves = {f: c for f, c in curves.items() if f in self.ticked}
        return self.curves

    def overlay(self) -> list[tuple[str, dict[str, tuple[list[float], list[float]]]]]:
        """(run name, its curves) of each ticked run whose curves are read, in the order ticked."""
        return [(f.name, self.curves[f]) for f in self.ticked if f in self.curves]

    def comparison(self) -> Table:
        """The ticked runs side by side: family, data, status, epochs, batch, learning rate, processes, the
        model settings that differ between them (all of them for one run), and the final validation loss and
        R²."""
        rows = self.ticked_rows()
        names = list(dict.fromkeys(k for r in rows for k in r.settings))
        if len(rows) > 1:
            names = [k for k in names if len({repr(r.settings.get(k)) for r in rows}) > 1]
        columns = (*TABLE_COLUMNS, *names, *FINAL_COLUMNS)
        cells = [(r.name, r.family or "—", short_dataset(r.dataset), r.status,
                  str(r.epochs) if r.epochs else "—", str(r.batch_size) if r.batch_size else "—", number(r.lr),
                  str(r.world_size), *(setting_text(r.settings.get(k)) for k in names), number(r.val_loss),
                  number(r.r2)) for r in rows]
        return Table(columns, cells)


def setting_text(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    return number(value) if isinstance(value, float) else str(value)
