"""Shared fixtures: offscreen Qt, few torch threads, the real data in ../shared/data."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import torch

torch.set_num_threads(2)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is not here")
    return SHARED_DATA


@pytest.fixture(scope="session")
def digits():
    from core.data import load_digits
    return load_digits()


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory, monkeypatch) -> Path:
    """The app's settings file and run folders live in a fresh temporary folder: tests never read or
    write the user's real ones (see gui/settings.py)."""
    home = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("LATENT_EXPLORER_SETTINGS", str(home / "settings.ini"))
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(home / "runs"))
    return home


@pytest.fixture
def window(qtbot):
    """The real main window on the digits; torn down with no training thread or background task left."""
    from gui.app import make_application
    from gui.main_window import MainWindow
    from gui.tasks import running_tasks
    make_application()
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    w.load_dataset("digits")
    qtbot.waitUntil(lambda: w.context.data is not None, timeout=60_000)
    yield w
    w.bridge.stop(wait_s=30)
    if w.bridge.worker is not None:
        w.bridge.worker.join(30)
        assert not w.bridge.worker.alive
    qtbot.waitUntil(lambda: running_tasks() == 0 and not w.bridge.busy, timeout=60_000)
