"""``python main.py --screenshot PATH [--panel KEY]``: the window offscreen, a panel staged in use (through its
own controls, as a user would), then a PNG of the window or of that panel's dock. Settings and run folders go
to a temporary place, so a screenshot never touches the user's."""
from __future__ import annotations

import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, QThread

from core.errors import LatentExplorerError

DATA_TIMEOUT_S = 120.0
TRAIN_LIMIT_S = 45.0  # a longer run is stopped after this
STAGE_TIMEOUT_S = 240.0
MAP_VIEW_ITEMS = 200  # the map is zoomed in to about this many items, so that images show
AUDIO_TRAIN_S = 12.0
AUDIO_FEED_S = 4.5  # long enough for the scrolling views to fill


@contextmanager
def scratch_user_dirs():
    """Settings and run folders in a temporary place."""
    from .settings import RUNS_ENV, SETTINGS_ENV
    saved = {k: os.environ.get(k) for k in (SETTINGS_ENV, RUNS_ENV)}
    with tempfile.TemporaryDirectory(prefix="latent-explorer-screenshot-") as tmp:
        os.environ[SETTINGS_ENV] = str(Path(tmp) / "settings.ini")
        os.environ[RUNS_ENV] = str(Path(tmp) / "runs")
        try:
            yield Path(tmp)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def wait_until(condition, timeout_s: float, what: str) -> None:
    """Run the event loop until ``condition()`` holds; LatentExplorerError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise LatentExplorerError(f"--screenshot: timed out after {timeout_s:.0f} s waiting for {what}")
        QCoreApplication.processEvents()
        QThread.msleep(10)


def settle(seconds: float) -> None:
    """Let timers (curve redraws, polls) run for a moment."""
    end = time.monotonic() + seconds
    wait_until(lambda: time.monotonic() > end, seconds + 5, "the window to settle")


def in_background(window, fn, *args, what: str, timeout_s: float = STAGE_TIMEOUT_S):
    """``fn(*args)`` off the UI thread while the event loop runs; its result (LatentExplorerError if it fails)."""
    from .background.tasks import Task
    result = {}
    task = Task(fn, *args, parent=window)
    task.done.connect(lambda value: result.setdefault("value", value))
    task.failed.connect(lambda message, _tb: result.setdefault("error", message))
    task.start()
    wait_until(lambda: result, timeout_s, what)
    if "error" in result:
        raise LatentExplorerError(f"--screenshot: {what} failed: {result['error']}")
    return result["value"]


def trained_model(window, seconds: float):
    """The context's model, or a VAE trained on the open data for ``seconds`` and put into the context."""
    from core.train.loop import TrainConfig
    from core.runs.quicktrain import train_briefly
    context = window.context
    if context.model is None:
        model = in_background(window, train_briefly, context.data, context.data_source or context.data.name, "vae",
                              seconds, TrainConfig(epochs=30, device="cpu"), what="training a VAE")
        context.set_model(model)
    return context.model


# --- what each panel shows in use -------------------------------------------------------------
def stage_main(window) -> None:
    """Train the model chosen in Setup (a few seconds on the default digits VAE)."""
    button = window.panels["training"].start_button
    if button.isEnabled():
        button.click()


def stage_latent(window) -> None:
    trained_model(window, 10.0)


def stage_map(window) -> None:
    """A trained model's UMAP map, zoomed in until images show, with one item inspected."""
    panel = window.panels["map"]
    trained_model(window, 20.0)
    if panel.method != "umap" or not panel.busy:  # (setting the model may have started the UMAP map already)
        panel.set_method("umap")
        if not panel.busy:
            panel.refresh(force=True)
    wait_until(lambda: not panel.busy, STAGE_TIMEOUT_S, "the map")
    if panel.session.embedding is None:
        raise LatentExplorerError(f"--screenshot: {panel.banner.text()}")
    index = panel.session.boundary_item(MAP_VIEW_ITEMS)
    panel.view.zoom_to(index, MAP_VIEW_ITEMS)
    panel.view.update_detail()
    panel.view.point_clicked.emit(index)
    wait_until(lambda: panel.inspector.index == index, 60, "the inspector")


def stage_morph(window) -> None:
    """A face morph strip (with no model: the Faces demo, Olivetti + ~25 s of training) and the attribute
    vector "label 1 − label 0" applied to A."""
    panel = window.panels["morph"]
    if window.context.model is None:
        panel.demo_button.click()
        wait_until(lambda: window.context.model is not None, STAGE_TIMEOUT_S, "the faces demo")
    panel.demo_vector()


def stage_compare(window) -> None:
    """With nothing to compare, the demo: a VAE, GAN, flow and diffusion model trained for a few seconds
    each on the open data set, then compared."""
    panel = window.panels["compare"]
    if not panel.checkpoints:
        panel.samples_spin.setValue(300)
        panel.demo_button.click()
        wait_until(lambda: panel.task is None, STAGE_TIMEOUT_S, "the demo models")
        if panel.comparison is None:
            raise LatentExplorerError(f"--screenshot: {panel.status.text()}")


def stage_audio(window) -> None:
    """A tiny denoiser trained on the shared spoken digits for a few seconds (if none is open), then a noisy
    held-out recording fed through the live view as a microphone would."""
    from core.audio.dataset import SpeechNoiseData
    from core.runs.audio_demo import QUICK_MIX, SHARED_NOISE, SHARED_SPEECH, demo_mixture, train_briefly
    panel = window.panels["audio"]
    if not SHARED_SPEECH.is_dir():
        raise LatentExplorerError(f"--screenshot: the spoken digits are not in {SHARED_SPEECH}")
    current = panel.model

    def prepare():
        model = current or train_briefly(SHARED_SPEECH, SHARED_NOISE, AUDIO_TRAIN_S)
        data = SpeechNoiseData.load(SHARED_SPEECH, SHARED_NOISE, model.sample_rate, 1, QUICK_MIX)
        return model, demo_mixture(data, seconds=6.0, snr_db=0.0, noise="doing_the_dishes.wav")[0]

    model, noisy = in_background(window, prepare, what="training a denoiser")
    if panel.model is None:
        panel.set_model(model)
    panel.tabs.setCurrentWidget(panel.live)
    panel.session.feed(noisy, model.sample_rate, "held-out spoken digits + dish-washing noise at 0 dB SNR")
    settle(AUDIO_FEED_S)
    panel.live.redraw()


STAGES = {"main": stage_main, "latent": stage_latent, "map": stage_map, "morph": stage_morph,
          "compare": stage_compare, "audio": stage_audio}


def take_screenshot(window, dataset: str, panel: str, path: Path) -> Path:
    """Open the window offscreen on ``dataset``, stage ``panel``, wait for the work to end, and save a PNG of
    the window (``main``) or of the panel's dock."""
    from .background.tasks import running_tasks

    window.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
    window.show()
    window.load_dataset(dataset)
    wait_until(lambda: window.context.data is not None or window.panels["setup"].message.isVisible(),
               DATA_TIMEOUT_S, f"data set {dataset}")
    if window.context.data is None:
        raise LatentExplorerError(f"--screenshot: {window.panels['setup'].message.text()}")
    if panel != "main":
        window.docks[panel].raise_()
    STAGES.get(panel, lambda _w: None)(window)
    bridge, started = window.bridge, time.monotonic()

    def idle() -> bool:
        if bridge.busy and time.monotonic() - started > TRAIN_LIMIT_S:
            bridge.stop()
        return not bridge.busy and (bridge.worker is None or bridge.worker.events.empty()) and running_tasks() == 0

    settle(0.2)
    wait_until(idle, TRAIN_LIMIT_S + 60, "training and loading to finish")
    settle(0.5)
    if panel != "main":
        window.docks[panel].raise_()
        settle(0.2)
    widget = window if panel == "main" else window.docks[panel]
    path.parent.mkdir(parents=True, exist_ok=True)
    if not widget.grab().save(str(path)):
        raise LatentExplorerError(f"could not write {path}")
    return path
