"""Where the app keeps its settings and its run folders.

Both can be redirected through the environment (tests and ``--screenshot`` do, so they never touch
the user's real settings): ``LATENT_EXPLORER_SETTINGS`` (an .ini file) and ``LATENT_EXPLORER_RUNS``
(a folder). Lists and dicts are stored as JSON text, which every QSettings back end round-trips.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

ORGANIZATION, APPLICATION = "latent-explorer", "Latent Explorer"
SETTINGS_ENV, RUNS_ENV = "LATENT_EXPLORER_SETTINGS", "LATENT_EXPLORER_RUNS"
RECENT_KEY, RECENT_MAX = "recent_checkpoints", 8


def app_settings() -> QSettings:
    path = os.environ.get(SETTINGS_ENV)
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def read_json(settings: QSettings, key: str, default):
    try:
        value = json.loads(settings.value(key, "") or "null")
    except (TypeError, ValueError):
        return default
    return default if value is None or type(value) is not type(default) else value


def write_json(settings: QSettings, key: str, value) -> None:
    settings.setValue(key, json.dumps(value))


def recent_files(settings: QSettings) -> list[str]:
    return [p for p in read_json(settings, RECENT_KEY, []) if isinstance(p, str)]


def add_recent_file(settings: QSettings, path: str | Path) -> list[str]:
    path = str(Path(path).resolve())
    files = [path, *(p for p in recent_files(settings) if p != path)][:RECENT_MAX]
    write_json(settings, RECENT_KEY, files)
    return files


def runs_root() -> Path:
    """``$LATENT_EXPLORER_RUNS``, else the platform's data folder named once: ``~/.local/share/latent-explorer/runs``
    on Linux."""
    env = os.environ.get(RUNS_ENV)
    if env:
        return Path(env)
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
    return Path(base or Path.home() / ".local" / "share") / ORGANIZATION / "runs"


def legacy_runs_root() -> Path | None:
    """Where earlier versions put runs: <AppDataLocation>/runs, which names the organisation and the
    application both (``…/latent-explorer/Latent Explorer/runs``); None when ``$LATENT_EXPLORER_RUNS`` is set."""
    if os.environ.get(RUNS_ENV):
        return None
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base) / "runs" if base else None


def new_run_dir(model_name: str, dataset_source: str) -> Path:
    """A fresh folder name runs/<timestamp>_<model>_<dataset> (not created here)."""
    dataset = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(dataset_source).stem or dataset_source).strip("-") or "data"
    base = runs_root() / f"{time.strftime('%Y%m%d-%H%M%S')}_{model_name}_{dataset}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path
