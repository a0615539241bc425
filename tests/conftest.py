"""Shared fixtures: offscreen Qt, few torch threads, the real data in ../shared/data; and no background
thread outlives the session (core/threads.py says why)."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import torch

torch.set_num_threads(2)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
THREADS_END_S = 60  # after the last test, background threads get this long to end
_exit_status = 0


def pytest_sessionfinish(session, exitstatus):
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """After the summary: wait for background threads; if some are stuck (a bug), name them and fail."""
    from core.threads import exit_code_after_threads, stop_all, wait_for_threads
    stop_all()
    if wait_for_threads(THREADS_END_S):
        exit_code_after_threads(_exit_status or 1, 0)


@pytest.fixture(scope="session", autouse=True)
def application():
    """The QApplication as ``python main.py`` makes it (garbage collected on the UI thread only), made
    before pytest-qt would make a plain one."""
    from gui.app import make_application
    return make_application()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is not here")
    return SHARED_DATA


@pytest.fixture(scope="session")
def digits():
    from core.image.data import load_digits
    return load_digits()


@pytest.fixture(scope="session")
def vae(digits):
    """A small VAE (latent size 8) trained for about 6 s on the digits."""
    from core.train.loop import TrainConfig
    from core.runs.quicktrain import train_briefly
    return train_briefly(digits, "digits", "vae", seconds=6,
                         config=TrainConfig(epochs=12, batch_size=64, lr=2e-3, device="cpu"), latent_dim=8)


@pytest.fixture
def context(qtbot, digits):
    """The GUI's shared context with the digits open."""
    from gui.context import AppContext
    ctx = AppContext()
    ctx.set_data(digits, "digits")
    return ctx


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    """The app's cache (feature classifiers, codes, maps) in a fresh folder for the test module."""
    with pytest.MonkeyPatch.context() as mp:
        folder = tmp_path_factory.mktemp("cache")
        mp.setenv("LATENT_EXPLORER_CACHE", str(folder))
        yield folder


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
    """The real main window on the digits; torn down with no training thread or background task left
    (none of the background threads started meanwhile)."""
    from collections import Counter

    import shiboken6

    from core.threads import running_threads
    from gui.main_window import MainWindow
    from gui.background.tasks import running_tasks
    before = Counter(running_threads())
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
    if shiboken6.isValid(w):  # (some tests close it themselves)
        w.close()  # cancels what still runs in the background, as when the user closes the window
    qtbot.waitUntil(lambda: not Counter(running_threads()) - before, timeout=60_000)


@pytest.fixture(scope="session")
def jack_server():
    """One real JACK server (dummy backend, 48 kHz like most sound cards) for every live-audio test of the session:
    a process cannot start a second one after the first has gone (libjack does not connect again)."""
    from audio_jack import JackServer, jack_available
    if jack_available():
        pytest.skip(jack_available())
    server = JackServer().start()
    yield server
    server.stop()
