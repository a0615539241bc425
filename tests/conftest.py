"""Shared fixtures: offscreen Qt, few torch threads, the app's bounds on native memory (two C heaps, a kernel cache
of ``core.threads.KERNEL_CACHE``), the real data in ../shared/data; and no background thread outlives the session
(core/threads.py says why).

Isolation: before anything is imported, the app's cache, data, settings and run folders, the XDG folders and
the temporary folder all point into one session folder (``SESSION_DIR``), removed at the end; so tests never
touch the user's ``~/.cache/latent-explorer``, data or settings, and leave nothing in /tmp (a listing of /tmp and
of ~ before and after says so, and fails the session under ``CI=true``). ``KEEP_TEST_FILES=1`` keeps the
session folder for a look.

Skips: under ``CI=true`` (as .ci/run runs) a skipped test fails, naming why it would have skipped; on a
developer machine skips stay, with their reason (``-ra`` lists them)."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from core.threads import bound_native_memory  # noqa: E402

bound_native_memory()  # as main.py does, before any thread starts: the monkey measures the app's memory


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


SYSTEM_TMP = Path(tempfile.gettempdir())


def watched_listing() -> set[str]:
    """What is in /tmp and in the user's home folders where apps write (one level down)."""
    home = Path.home()
    folders = [SYSTEM_TMP, home, home / ".cache", home / ".config", home / ".local" / "share"]
    return {str(p) for f in folders if f.is_dir() for p in f.iterdir()}


LISTING_BEFORE = watched_listing()
SESSION_DIR = Path(tempfile.mkdtemp(prefix="latent-explorer-tests-"))
for _var, _sub in {"LATENT_EXPLORER_CACHE": "cache", "LATENT_EXPLORER_DATA": "data", "LATENT_EXPLORER_RUNS": "runs",
                   "XDG_CACHE_HOME": "xdg/cache", "XDG_CONFIG_HOME": "xdg/config", "XDG_DATA_HOME": "xdg/data",
                   "XDG_STATE_HOME": "xdg/state", "MPLCONFIGDIR": "xdg/matplotlib", "TMPDIR": "tmp"}.items():
    (SESSION_DIR / _sub).mkdir(parents=True, exist_ok=True)
    os.environ[_var] = str(SESSION_DIR / _sub)
os.environ["LATENT_EXPLORER_SETTINGS"] = str(SESSION_DIR / "settings.ini")
tempfile.tempdir = os.environ["TMPDIR"]  # (pytest's tmp_path folders too)

import pytest
import torch

torch.set_num_threads(2)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
THREADS_END_S = 60  # after the last test, background threads get this long to end
_exit_status = 0


def pytest_sessionfinish(session, exitstatus):
    """Remove the session folder; what is new in /tmp or ~ now is a leak (a failure under ``CI=true``)."""
    global _exit_status
    if not os.environ.get("KEEP_TEST_FILES"):
        shutil.rmtree(SESSION_DIR, ignore_errors=True)
    left = sorted(watched_listing() - LISTING_BEFORE - {str(SESSION_DIR)})
    if left:
        message = "the tests left files in /tmp or in the home folder: " + ", ".join(left)
        if in_ci():
            session.config.get_terminal_writer().line(f"\nerror: {message}", red=True)
            session.exitstatus = exitstatus = pytest.ExitCode.TESTS_FAILED
        else:
            session.config.get_terminal_writer().line(f"\nwarning: {message} (or another program on this machine did)")
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """After the summary: wait for background threads; if some are stuck (a bug), name them and fail."""
    from core.threads import exit_code_after_threads, stop_all, wait_for_threads
    stop_all()
    if wait_for_threads(THREADS_END_S):
        exit_code_after_threads(_exit_status or 1, 0)


def pytest_configure(config):
    """The ``guards`` marker; and under ``$LATENT_EXPLORER_MUTANT`` the mutant, before any test module is
    imported (tests/mutants.py)."""
    config.addinivalue_line("markers", "guards(claim): a test that fails when the claim breaks (tests/mutants.py)")
    from mutants import active
    mutant = active()
    if mutant is not None:
        config._mutant_patch = pytest.MonkeyPatch()
        mutant.apply(config._mutant_patch)


def pytest_collection_modifyitems(config, items):
    """Under a mutant (or ``$LATENT_EXPLORER_CLAIM``), only the tests that guard its claim run."""
    from mutants import guards, selected_claim
    claim = selected_claim()
    if claim is None:
        return
    config.hook.pytest_deselected(items=[item for item in items if not guards(item, claim)])
    items[:] = [item for item in items if guards(item, claim)]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under ``CI=true`` a skip is a failure (an expected failure, xfail, stays what it is)."""
    report = (yield).get_result()
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where every test must run: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """Under ``CI=true`` a whole module that skips (``pytest.skip(allow_module_level=True)``) fails too."""
    report = (yield).get_result()
    if in_ci() and report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"{collector.nodeid} skipped under CI=true, where every test must run: {reason}"


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
