"""Where the app keeps its settings and its run folders.

Both can be redirected through the environment (tests and ``--screenshot`` do, so they never touch
the user's real settings): ``LATENT_EXPLORER_SETTINGS`` (an .ini file) and ``LATENT_EXPLORER_RUNS``
(a folder). Lists and dicts are stored as JSON text, which every QSettings back end round-trips.

Settings are advice, never a reason not to start: every value is checked as it is read (``RULES``), and
a bad one is dropped (``check_settings`` drops them from the file at start and says which).
"""
from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSettings, QStandardPaths
from PySide6.QtWidgets import QFileDialog, QWidget

from core.sessions.setup import TRAINING_RANGES

ORGANIZATION, APPLICATION = "latent-explorer", "Latent Explorer"
SETTINGS_ENV, RUNS_ENV = "LATENT_EXPLORER_SETTINGS", "LATENT_EXPLORER_RUNS"
RECENT_KEY, RECENT_MAX = "recent_checkpoints", 8
ADDED_KEY = "runs/added"  # folders the runs list shows besides the runs root (added or followed)
FOLDER_KEY = "dialogs/folder"  # the folder of the last file the user chose in a file dialog


def app_settings() -> QSettings:
    path = os.environ.get(SETTINGS_ENV)
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


Rule = Callable[[object], str]  # a value -> '' if it is fine, else why not


def _whole(low: int, high: int) -> Rule:
    return lambda v: "" if type(v) is int and low <= v <= high else f"not a whole number from {low:,} to {high:,}"


def _text(v) -> str:
    return "" if isinstance(v, str) and len(v) <= 1000 else "not a short text"


def _flag(v) -> str:
    return "" if isinstance(v, bool) else "not true or false"


def _learning_rate(v) -> str:
    if v is None:
        return ""  # (what the app saves while the rate follows the family's default)
    try:
        ok = isinstance(v, (str, int, float)) and not isinstance(v, bool) and 0 < float(v) < 10
    except ValueError:
        ok = False
    return "" if ok else "not a number between 0 and 10"


def _form_value(v) -> str:
    """What a form field can show: text, true/false, or a finite number a spin box can hold (or a list)."""
    if isinstance(v, list):
        return next(filter(None, map(_form_value, v)), "") if len(v) <= 64 else "too long a list"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return "" if math.isfinite(v) and abs(v) < 2**31 else "a number out of any field's range"
    return "" if isinstance(v, bool) else _text(v)


Cleaner = Callable[[object], tuple[object, list[str]]]  # a value -> (what is kept of it, a note per dropped part)


def _table(rules: dict[str, Rule], other: Rule = lambda v: "") -> Cleaner:
    """A dict whose fields follow ``rules``, and the fields it does not name ``other``."""
    def clean(value, where: str = ""):
        if not isinstance(value, dict):
            return {}, [f"{where.strip() or 'a table'} (not a table)"]
        kept, notes = {}, []
        for field, v in value.items():
            why = rules.get(field, other)(v)
            if why:
                notes.append(f"{where}{field} = {json.dumps(v)[:40]} ({why})")
            else:
                kept[field] = v
        return kept, notes
    return clean


_form_fields = _table({}, _form_value)


def _per_family(value) -> tuple[dict, list[str]]:
    """family -> setting -> what its form field shows."""
    if not isinstance(value, dict):
        return {}, ["the families' settings (not a table)"]
    kept, notes = {}, []
    for name, fields in value.items():
        kept[name], dropped = _form_fields(fields, f"{name} ")
        notes += dropped
    return kept, notes


def _paths(value) -> tuple[list, list[str]]:
    if not isinstance(value, list):
        return [], ["the recent files (not a list)"]
    return [v for v in value if isinstance(v, str)], [f"recent file {json.dumps(v)[:40]} (not a path)"
                                                      for v in value if not isinstance(v, str)]


#: every JSON setting the app keeps, and what of a read value is kept
RULES: dict[str, Cleaner] = {
    "setup/common": _table({"model": _text, "lr": _learning_rate, "lr_schedule": _text,
                            "batch_size": _whole(*TRAINING_RANGES["batch_size"]),
                            "epochs": _whole(*TRAINING_RANGES["epochs"]), "device": _text, "own_process": _flag,
                            "processes": _whole(1, 64)}),
    "setup/families": _per_family,
    "map/view": _table({"images": _flag, "thumbnail_px": _whole(16, 96),
                        "method": lambda v: "" if v is None else _text(v)}),
    RECENT_KEY: _paths,
    ADDED_KEY: _paths,
}


def _loaded(settings: QSettings, key: str):
    """The JSON value stored under ``key`` (None if there is none); ValueError if it is not JSON."""
    text = settings.value(key, "")
    if not isinstance(text, str):
        raise ValueError(f"{key} is not JSON text")
    return json.loads(text or "null")


def read_json(settings: QSettings, key: str, default):
    """The value stored as JSON under ``key``, with what breaks its rules dropped; ``default`` if there is
    none, or it is not JSON, or not of the default's type."""
    try:
        value = _loaded(settings, key)
    except ValueError:
        return default
    if value is None or type(value) is not type(default):
        return default
    return RULES[key](value)[0] if key in RULES else value


def check_settings(settings: QSettings) -> str:
    """Drop from the settings file every value that breaks its rule (before anything reads them); a note
    that names them, or '' when all is well."""
    notes = []
    for key, clean in RULES.items():
        if not settings.contains(key):
            continue
        try:
            value = _loaded(settings, key)
        except ValueError:
            notes.append(f"{key} (not readable)")
            settings.remove(key)
            continue
        kept, dropped = clean(value)
        if dropped:
            notes += dropped
            write_json(settings, key, kept)
    if not notes:
        return ""
    settings.sync()
    return f"Ignored {len(notes)} bad setting(s) in {settings.fileName()}: {'; '.join(notes)}"


def write_json(settings: QSettings, key: str, value) -> None:
    settings.setValue(key, json.dumps(value))


def recent_files(settings: QSettings) -> list[str]:
    return read_json(settings, RECENT_KEY, [])


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


def dialog_folder() -> Path:
    """Where a file dialog opens: the folder of the last file chosen in one, else the user's documents folder
    (never the folder the app was started from)."""
    last = app_settings().value(FOLDER_KEY, "")
    if isinstance(last, str) and last and Path(last).is_dir():
        return Path(last)
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(documents) if documents and Path(documents).is_dir() else Path.home()


def _chosen(path: str, folder: bool = False) -> str:
    """Remember where ``path`` (a file, or a folder) is, for the next dialog; returns it."""
    if path:
        settings = app_settings()
        settings.setValue(FOLDER_KEY, str(Path(path) if folder else Path(path).parent))
        settings.sync()
    return path


def save_file_name(parent: QWidget, caption: str, name: str, filters: str) -> str:
    """Ask where to save ``name`` (opening in ``dialog_folder()``); '' if cancelled."""
    return _chosen(QFileDialog.getSaveFileName(parent, caption, str(dialog_folder() / name), filters)[0])


def open_file_name(parent: QWidget, caption: str, filters: str) -> str:
    """Ask for a file to open (from ``dialog_folder()``); '' if cancelled."""
    return _chosen(QFileDialog.getOpenFileName(parent, caption, str(dialog_folder()), filters)[0])


def existing_folder(parent: QWidget, caption: str) -> str:
    """Ask for a folder (from ``dialog_folder()``); '' if cancelled."""
    return _chosen(QFileDialog.getExistingDirectory(parent, caption, str(dialog_folder())), folder=True)
