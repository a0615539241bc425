"""Runs of earlier versions went to ``…/latent-explorer/Latent Explorer/runs`` (the platform's app data folder,
named after the organisation and the application both). The app moves them into ``runs_root()`` once, so that
File ▸ Follow a run folder, Compare's Find runs and File ▸ Recent files find every run in one place."""
from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QSettings

from .settings import RECENT_KEY, recent_files, write_json


def bring_over_legacy_runs(settings: QSettings, legacy: Path | None, root: Path) -> list[Path]:
    """Move each run folder of ``legacy`` into ``root`` (one whose name is taken there stays where it is),
    point the recent files at the new places, and remove ``legacy`` and its application-named parent once
    empty. Returns the folders moved."""
    if legacy is None or not legacy.is_dir() or legacy.resolve() == Path(root).resolve():
        return []
    legacy, root = legacy.resolve(), Path(root)
    root.mkdir(parents=True, exist_ok=True)
    moved = {}
    for folder in sorted(legacy.iterdir()):
        target = root / folder.name
        if target.exists():
            continue
        try:
            shutil.move(folder, target)
        except OSError:
            continue  # (in use, or no permission: it stays, and is found where it is)
        moved[folder] = target.resolve()
    if moved:
        write_json(settings, RECENT_KEY, [str(new_place(Path(p), moved)) for p in recent_files(settings)])
    for empty in (legacy, legacy.parent):
        try:
            empty.rmdir()
        except OSError:
            break
    return list(moved.values())


def new_place(path: Path, moved: dict[Path, Path]) -> Path:
    """Where ``path`` is now that the folders ``moved`` (old -> new) moved."""
    for old, new in moved.items():
        if path.is_relative_to(old):
            return new / path.relative_to(old)
    return path
