"""Every control, clicked: with a checkpoint of each image family open in turn (and, in one more round, only a
denoiser, so the image panels show their empty states), every visible, enabled push and tool button of every
panel is clicked with the mouse, every check box, combo box, spin box and slider is driven (a click, the arrow
keys), and every menu action of the panels and of the main window is triggered. What each round must reach is
kept here (``MUST_REACH``): a control that never becomes enabled fails the round. One more test clicks Stop,
Pause and Cancel while their work runs.

File dialogs answer "cancel", questions "No", other dialogs are closed. A click fails the test when it lets an
exception reach ``sys.excepthook`` (pytest-qt), makes a background task fail with a traceback (a bug, not a
user-facing problem), opens an error dialog, shows an error in a panel's message line that the round does not
expect (``EXPECTED_MESSAGES``), or stalls the UI thread for over ``STALL_S`` (a heartbeat timer).
The work a click starts (a demo, a training run, a projection, a comparison) ends before the next click.

Only a real click finds a ``clicked(bool)`` that lands in a callback's optional argument (the Faces demo's bug).
"""
from __future__ import annotations

import functools
import gc
import re
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import shiboken6
import soundfile as sf
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QAbstractButton, QAbstractSlider, QAbstractSpinBox, QApplication, QCheckBox, QComboBox,
                               QDialog, QFileDialog, QFormLayout, QGroupBox, QMenu, QMessageBox, QPushButton, QSlider, QTabWidget,
                               QToolButton, QWidget)

import core.runs.compare_demo
import core.image.latent
import core.sessions.latent
import core.sessions.morph
import gui.background.latest
import gui.background.tasks
from conftest import SHARED_DATA
from core.image.model_setup import base_model_setup
from core.threads import running_threads
from core.train.checkpoint import save_checkpoint
from gui.background.collector import startup_done
from gui.background.tasks import running_tasks
from gui.message_line import COLOURS, MessageLine
from models import build_model, family, names
from zoo_helpers import train_tiny

STALL_S = 1.0  # the longest the UI thread may go without handling its events
QUIET_S = 0.2  # nothing running for this long: the work a click started has ended
WORK_MS = 240_000  # the longest a click's work may take (a training run, a comparison; slow shared CI machine)
NO_IMAGE_MODEL = "audio-dae"  # the round with only a denoiser open: the image panels' empty states
#: Panels in the order they are clicked. Morph's Faces demo runs in the round without an image model (with one
#: open, it asks first and is answered No): after Compare (whose demo trains on the digits, not the faces), before
#: Training's Start opens the model it trains.
PANEL_ORDER = ("setup", "latent", "map", "compare", "morph", "training", "audio")

#: Controls not clicked, and why. (Dock title buttons, float and close, are not push or tool buttons.)
EXCLUDED = {
    ("main", "&Quit"): "closes the window (the fixture closes it at the end)",
    ("audio", "Start"): "starts live audio on sound devices (the test machine has none: it stays disabled)",
    ("audio", "▶ Before"): "plays on a sound device (none here: disabled)",
    ("audio", "▶ After"): "plays on a sound device (none here: disabled)",
    ("audio", "■"): "stops playback on a sound device (none here: disabled)",
}
#: What each round must reach (the start of an entry of ``Watch.reached``): a control that stays disabled, or a
#: panel whose controls all do, fails its round. Every image family's round reaches ``IMAGE_ROUND``.
IMAGE_ROUND = ("setup: combobox Family", "setup: spinbox Batch size", "setup: spinbox Epochs", "setup: combobox Device",
               "map: Fit", "map: checkbox Images", "map: checkbox Legend", "compare: Find runs", "compare: Compare",
               "morph: Browse…", "training: Start", "training: checkbox Own process", "main ▸ &Open checkpoint…",
               "main ▸ &Save checkpoint as…")
MUST_REACH = {
    "vae": (*IMAGE_ROUND, "setup: spinbox Latent size", "setup: doublespinbox β (KL weight)", "latent: Sample",
            "latent: Random", "latent: Traverse", "latent: slider", "morph: Make vector", "morph: slider Scrub A → B"),
    NO_IMAGE_MODEL: ("setup: combobox Family", "map: Fit", "compare: Demo models", "morph: Faces demo",
                     "training: Start", "audio (Live): Open model…", "audio (Live): checkbox Bypass",
                     "audio (File): Open…", "audio (Train): Train", "audio (Train): spinbox Epochs"),
}
#: Check boxes, combo boxes, spin boxes and sliders not driven, by (panel, the start of their label), and why.
EXCLUDED_INPUTS = {
    ("map", "PCA is instant"): "the method: UMAP compiles for a minute in a fresh cache (tests/test_map_panel.py "
                               "maps with each method; the Stop, Pause and Cancel round cancels a t-SNE map)",
    ("setup", "Data"): "another data set: MNIST and the others download (no network in tests; "
                       "tests/test_setup_panel.py and tests/test_data.py open data sets)",
}


def excluded_input(key: str, widget: QWidget) -> bool:
    label = input_label(widget)
    return any(k == key and label.startswith(start) for k, start in EXCLUDED_INPUTS)
#: Errors a panel's message line may show in these rounds (regular expressions), and why they are right there.
EXPECTED_MESSAGES: dict[str, str] = {
    r"latent-diffusion works on a trained autoencoder or VAE: choose its checkpoint as the Base model":
        "latent diffusion chosen (or opened) with no base model: Setup and Training say why Start is off",
}
#: Controls whose work does not depend on the image model open: clicked in the denoiser round only (run time).
ONCE = {("audio", None): "the audio panel shows the denoiser, the same in every round",
        ("compare", "Demo models"): "trains its own models on the data set, whatever model is open"}
#: Not reached on purpose: pyqtgraph's own context menus (view all, axes, its export dialog) and the map's
#: mouse gestures (hover, click, drag, lasso), which tests/test_map_panel.py drives.


class Watch:
    """What the clicks caused: dialogs, background failures, the longest UI stall; and what was reached."""

    def __init__(self):
        self.dialogs: list[tuple[str, str, str]] = []  # (kind, title, text)
        self.file_dialogs: list[str] = []
        self.background_bugs: list[str] = []
        self.messages: list[str] = []  # errors shown in a panel's message line ("Panel: text")
        self.reached: list[str] = []
        self.stall_s = 0.0
        self._beat = time.monotonic()
        self.heart = QTimer()
        self.heart.setInterval(20)
        self.heart.timeout.connect(self._on_beat)
        self.closer = QTimer()  # answers modal dialogs and closes menus that pop up
        self.closer.setInterval(100)
        self.closer.timeout.connect(self._close_popups)

    def start(self) -> None:
        self.heart.start()
        self.closer.start()

    def stop(self) -> None:
        self.heart.stop()
        self.closer.stop()

    def arm(self) -> None:
        """From now on, gaps between heartbeats count (test code run between clicks does not)."""
        self._beat = time.monotonic()

    def _on_beat(self) -> None:
        now = time.monotonic()
        self.stall_s = max(self.stall_s, now - self._beat)
        self._beat = now

    def _close_popups(self) -> None:
        popup = QApplication.activePopupWidget()
        if popup is not None:
            popup.close()
        modal = QApplication.activeModalWidget()
        if isinstance(modal, QDialog):
            self.dialogs.append(("modal", modal.windowTitle(), ""))
            modal.reject()

    def errors(self) -> list[str]:
        shown = [f"{kind} dialog {title!r}: {text}" for kind, title, text in self.dialogs
                 if kind in ("critical", "warning") or title == "Unexpected error"]
        lines = [f"message line {m}" for m in self.messages if not any(re.search(p, m) for p in EXPECTED_MESSAGES)]
        return shown + self.background_bugs + lines


def owner(widget: QWidget) -> str:
    """The class name of the panel (or dialog) that holds ``widget``."""
    while widget is not None and not type(widget).__name__.endswith(("Panel", "View", "Dialog", "Window")):
        widget = widget.parentWidget()
    return type(widget).__name__ if widget is not None else "?"


@pytest.fixture
def watch(monkeypatch):
    """Dialogs recorded and answered, background failures with a traceback recorded, no sound devices."""
    w = Watch()
    icons = {QMessageBox.Icon.Critical: "critical", QMessageBox.Icon.Warning: "warning"}

    def opened(box):
        w.dialogs.append((icons.get(box.icon(), "info"), box.windowTitle(), box.text()))

    def static(kind, answer):
        def show(_parent, title, text, *args, **kwargs):
            w.dialogs.append((kind, title, text))
            return answer
        return staticmethod(show)

    def file_dialog(answer):
        def ask(_parent=None, title="", *args, **kwargs):
            w.file_dialogs.append(title)
            return answer
        return staticmethod(ask)

    set_text = MessageLine.set_text

    def shown_in_line(line, text):
        if text and COLOURS["error"] in line.label.styleSheet():
            w.messages.append(f"{owner(line)}: {text}")
        set_text(line, text)
    monkeypatch.setattr(MessageLine, "set_text", shown_in_line)

    def opened_and_closed(box):  # (a box that is never shown cannot be closed: deleted as closing it would)
        opened(box)
        if box.testAttribute(Qt.WidgetAttribute.WA_DeleteOnClose):
            box.deleteLater()
    monkeypatch.setattr(QMessageBox, "open", opened_and_closed)
    monkeypatch.setattr(QMessageBox, "exec", lambda box: opened(box) or QMessageBox.StandardButton.Ok)
    monkeypatch.setattr(QMessageBox, "question", static("question", QMessageBox.StandardButton.No))
    for kind in ("critical", "warning", "information"):
        monkeypatch.setattr(QMessageBox, kind, static(kind, QMessageBox.StandardButton.Ok))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", file_dialog(("", "")))
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", file_dialog(([], "")))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", file_dialog(("", "")))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", file_dialog(""))

    outcome = gui.background.tasks.outcome

    def recorded(fn, args):
        result = outcome(fn, args)
        if not result[0] and result[3]:  # a traceback: not a user-facing LatentExplorerError
            w.background_bugs.append(f"background {gui.background.tasks.name_of(fn)}: {result[1]}\n{result[3]}")
        return result
    monkeypatch.setattr(gui.background.tasks, "outcome", recorded)
    monkeypatch.setattr(gui.background.latest, "outcome", recorded)

    import sounddevice
    monkeypatch.setattr(sounddevice, "query_devices", lambda *a, **k: sounddevice.DeviceList([]))
    monkeypatch.setattr(core.runs.compare_demo, "DEMO_SECONDS", 0.3)  # Compare's Demo models: one model, briefly
    monkeypatch.setattr(core.runs.compare_demo, "DEMO_FAMILIES", ("vae",))
    monkeypatch.setattr(core.sessions.morph, "FACES_DEMO_S", 1.0)
    # the slider ranges of a GAN or diffusion model: measured by inversion for 1 s, not the app's 10 s
    monkeypatch.setattr(core.sessions.latent, "code_stats", functools.partial(core.image.latent.code_stats, budget_s=1.0))
    w.start()
    yield w
    w.stop()


# --- checkpoints ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoints(digits, tmp_path_factory):
    """A function: the checkpoint of ``name`` trained for an epoch at its tiny settings (made on first use)."""
    root, made = tmp_path_factory.mktemp("click-through"), {}

    def make(name: str) -> Path:
        if name not in made:
            if name == NO_IMAGE_MODEL:
                config = {**family(name).tiny}
                made[name] = save_checkpoint(root / name / "checkpoint.pt", build_model(name, config).eval())
            elif name == "latent-diffusion":
                derived, init_state = base_model_setup(make("vae"), digits.image_shape)
                made[name] = train_tiny(name, digits, root / name, epochs=1, derived=derived, init_state=init_state)[1]
            else:
                made[name] = train_tiny(name, digits, root / name, epochs=1)[1]
        return made[name]
    return make


def speech_folder(folder: Path, rate: int = 16_000) -> Path:
    """A few seconds of voiced-sounding tones, enough for an audio run of one short epoch."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    t = np.arange(2 * rate) / rate
    for k in range(6):
        f0 = 110 + 20 * k
        wave = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 6)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
        sf.write(folder / f"talker{k}.wav", (0.2 * wave + 0.005 * rng.standard_normal(len(t))).astype(np.float32), rate)
    return folder


# --- clicking -------------------------------------------------------------------------------------------------
def clickable(widget: QWidget) -> bool:
    return shiboken6.isValid(widget) and widget.isVisible() and widget.isEnabled()


def buttons_of(root: QWidget) -> list[QAbstractButton]:
    return [b for b in root.findChildren(QAbstractButton) if isinstance(b, (QPushButton, QToolButton))]


def label_of(button: QAbstractButton) -> str:
    return button.text() or button.toolTip().split("\n")[0] or button.objectName() or type(button).__name__


INPUTS = (QCheckBox, QComboBox, QAbstractSpinBox, QSlider)


def inputs_of(root: QWidget) -> list[QWidget]:
    return [w for w in root.findChildren(QWidget) if isinstance(w, INPUTS) and not isinstance(w.parentWidget(), INPUTS)]


def input_label(widget: QWidget) -> str:
    """A check box's text, else the label of its form row, else its tooltip's first line."""
    if isinstance(widget, QCheckBox) and widget.text():
        return widget.text()
    parent = widget.parentWidget()
    for form in parent.findChildren(QFormLayout) if parent is not None else ():
        label = form.labelForField(widget)
        if label is not None and getattr(label, "text", lambda: "")():
            return label.text().rstrip(":")
    if isinstance(parent, QGroupBox) and parent.title():
        return parent.title()
    return (widget.accessibleName() or widget.toolTip().split("\n")[0][:60] or widget.objectName()
            or type(widget).__name__)


def input_keys(widget: QWidget) -> tuple[Qt.Key, ...]:
    """The keys that move ``widget`` away and back (a check box is clicked instead)."""
    if isinstance(widget, QComboBox):
        return (Qt.Key.Key_Down, Qt.Key.Key_Up) if widget.count() > 1 else ()
    if isinstance(widget, QAbstractSlider):
        return Qt.Key.Key_PageUp, Qt.Key.Key_PageDown
    return Qt.Key.Key_Up, Qt.Key.Key_Down


def ensure_idle(window, qtbot, baseline: Counter) -> None:
    """Wait until nothing the clicks started runs any more: no training, no task to deliver, no background
    thread beyond those of ``baseline``, for ``QUIET_S`` in a row."""
    quiet_since = [None]

    def idle() -> bool:
        busy = window.bridge.busy or running_tasks() or (Counter(running_threads()) - baseline)
        if busy:
            quiet_since[0] = None
            return False
        quiet_since[0] = quiet_since[0] or time.monotonic()
        return time.monotonic() - quiet_since[0] >= QUIET_S
    try:
        qtbot.waitUntil(idle, timeout=WORK_MS)
    except qtbot.TimeoutError:
        pytest.fail(f"still busy after {WORK_MS / 1000:.0f} s: training {window.bridge.busy}, {running_tasks()} tasks, "
                    f"threads {sorted((Counter(running_threads()) - baseline).elements())}")


def qt_kind(widget: QWidget) -> str:
    """The Qt class a control is made of (the app's own subclasses, e.g. a checked spin box, count as it):
    ``spinbox``, ``doublespinbox``, ``combobox``…"""
    qt_class = next(c for c in type(widget).__mro__ if c.__module__.startswith("PySide6"))
    return qt_class.__name__[1:].lower()


class Clicker:
    def __init__(self, window, qtbot, watch: Watch, baseline: Counter, skipped: dict, drive_inputs: bool = True):
        self.window, self.qtbot, self.watch, self.baseline = window, qtbot, watch, baseline
        self.skipped = {**EXCLUDED, **skipped}
        self.drive_inputs = drive_inputs

    def judge(self, what: str, act) -> None:
        """Do ``act`` (a click), wait for its work, and fail if it went wrong."""
        w = self.watch
        w.reached.append(what)
        seen, w.stall_s = len(w.errors()), 0.0
        w.arm()
        began = time.monotonic()
        with self.qtbot.captureExceptions() as exceptions:  # (what reaches sys.excepthook)
            act()
            ensure_idle(self.window, self.qtbot, self.baseline)
        w.reached[-1] += f" ({time.monotonic() - began:.1f} s)"
        assert not exceptions, f"{what}: " + "\n".join("".join(traceback.format_exception(*e)) for e in exceptions)
        assert not w.errors()[seen:], f"{what}: " + "\n".join(w.errors()[seen:])
        assert w.stall_s <= STALL_S, f"{what}: the UI thread stalled for {w.stall_s:.2f} s"

    def click(self, where: str, button: QAbstractButton) -> None:
        self.judge(f"{where}: {label_of(button)}",
                   lambda: self.qtbot.mouseClick(button, Qt.MouseButton.LeftButton))
        if isinstance(button, QToolButton) and button.menu() is not None:
            self.menu(where, button.menu())

    def drive(self, where: str, widget: QWidget) -> None:
        """A check box clicked; a combo box, spin box or slider moved by a key and back."""
        what = f"{where}: {qt_kind(widget)} {input_label(widget)}"
        if isinstance(widget, QCheckBox):
            self.judge(what, lambda: self.qtbot.mouseClick(widget, Qt.MouseButton.LeftButton))
            return
        for key in input_keys(widget):
            if clickable(widget):
                self.judge(f"{what} ({key.name[4:]})", lambda: self.qtbot.keyClick(widget, key))

    def menu(self, where: str, menu: QMenu) -> None:
        for k in range(len(menu.actions())):
            if k >= len(menu.actions()):
                break  # (the menu was refilled shorter: Recent files ▸ Clear list)
            action = menu.actions()[k]  # (a Recent file opened refills its menu)
            if action.isSeparator() or not action.isEnabled() or (where, action.text()) in self.skipped:
                continue
            if action.menu() is not None:
                self.menu(f"{where} ▸ {action.text()}", action.menu())
                continue
            text = action.text()
            self.judge(f"{where} ▸ {text}", action.trigger)
            if shiboken6.isValid(action) and action.isCheckable() and action.isEnabled():  # (View ▸ a dock: shown again)
                self.judge(f"{where} ▸ {action.text()} (again)", action.trigger)

    def panel(self, key: str) -> None:
        """Every push and tool button of panel ``key``, page by page (tabs); again for those the first clicks
        enabled."""
        self.window.docks[key].raise_()
        panel = self.window.panels[key]
        tabs = panel.findChildren(QTabWidget)
        pages = [(tab, i) for tab in tabs for i in range(tab.count())] or [(None, 0)]
        clicked: list[QWidget] = []
        for tab, i in pages:
            if tab is not None:
                tab.setCurrentIndex(i)
            where = key if tab is None else f"{key} ({tab.tabText(i)})"
            for _ in range(3):
                todo = [b for b in buttons_of(panel) if clickable(b) and not any(b is c for c in clicked)
                        and (key, b.text()) not in self.skipped]
                if not todo:
                    break
                for button in todo:
                    if clickable(button):
                        clicked.append(button)
                        self.click(where, button)
            if self.drive_inputs:
                for widget in inputs_of(panel):
                    if clickable(widget) and not any(widget is c for c in clicked) and not excluded_input(key, widget):
                        clicked.append(widget)
                        self.drive(where, widget)


def prepare(window, tmp_path: Path) -> None:
    """What a user sets before clicking around, so each click's work stays short: PCA maps (UMAP compiles for a
    minute in a fresh cache), few samples to compare, a short audio run."""
    window.panels["map"].set_method("pca")
    window.panels["setup"].epochs_spin.setValue(1)
    compare = window.panels["compare"]
    compare.samples_spin.setValue(compare.samples_spin.minimum())
    train = window.panels["audio"].train
    train.speech_edit.setText(str(speech_folder(tmp_path / "speech")))
    train.noise_edit.setText("")
    train.epochs.setValue(1)


#: Families whose round takes a minute: opening one measures its codes by inversion for up to 10 s (the Latent
#: panel's statistics), three times a round (opened, trained by Start, opened again from Recent files).
SLOW = {"gan", "diffusion"}


@pytest.fixture
def app_collection():
    """Garbage collection as in the app: what exists once the window is built is set aside (``startup_done``), so
    a full collection scans only what came later; undone afterwards."""
    startup_done()
    yield
    gc.unfreeze()


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in [*names("image"), NO_IMAGE_MODEL]])
def test_every_control_works_with_a_model_of_each_family_open(name, window, app_collection, qtbot, watch, checkpoints,
                                                              tmp_path, cache_dir):
    path = checkpoints(name)
    baseline = Counter(running_threads())
    clicker = Clicker(window, qtbot, watch, baseline, {} if name == NO_IMAGE_MODEL else ONCE)
    prepare(window, tmp_path)
    clicker.judge(f"open {name}", lambda: window.open_checkpoint(path))
    if name == NO_IMAGE_MODEL:
        assert window.panels["audio"].model is not None and window.context.model is None
    else:
        assert window.context.model is not None and window.context.model.name == name
    for key in PANEL_ORDER:
        if (key, None) not in clicker.skipped:
            clicker.panel(key)
    for menu_action in window.menuBar().actions():
        clicker.menu("main", menu_action.menu())
    print(f"{name} round reached {len(watch.reached)} controls:\n" + "\n".join(watch.reached))
    missing = [c for c in MUST_REACH.get(name, IMAGE_ROUND) if not any(r.startswith(c) for r in watch.reached)]
    assert not missing, f"the {name} round never reached (never enabled, or gone): {missing}"
    assert watch.file_dialogs, "no file dialog was reached"
    if name == NO_IMAGE_MODEL:  # the round where the Faces demo runs to its end (where its bug was)
        assert any(r.startswith("morph: Faces demo") for r in watch.reached)
        if (SHARED_DATA / "olivetti").is_dir():
            assert window.context.data.image_shape == (1, 64, 64)  # the faces


STOP_MS = 60_000  # a stop saves a small checkpoint: seconds, even on a loaded machine
#: Messages the Stop, Pause and Cancel round may show: the work it cancels says so.
CANCEL_MESSAGES = (r"[Cc]ancel",)


def test_stop_pause_and_cancel_work_while_their_work_runs(window, app_collection, qtbot, watch, tmp_path, cache_dir):
    """A long training run paused, resumed and stopped before its end; a t-SNE map and Compare's demo
    cancelled while they run; each with a click on the button."""
    def click(button: QAbstractButton) -> None:
        assert clickable(button), f"{label_of(button)} is not enabled while its work runs"
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)

    baseline = Counter(running_threads())
    prepare(window, tmp_path)
    window.panels["setup"].epochs_spin.setValue(5000)  # far longer than the test: only Stop ends it
    window.docks["training"].raise_()
    training = window.panels["training"]
    with qtbot.captureExceptions() as exceptions:
        qtbot.waitUntil(training.start_button.isEnabled, timeout=WORK_MS)
        click(training.start_button)
        qtbot.waitUntil(lambda: training.state == "running" and training.pause_button.isEnabled(), timeout=WORK_MS)
        click(training.pause_button)
        qtbot.waitUntil(lambda: training.state == "paused" and training.pause_button.isEnabled(), timeout=WORK_MS)
        assert training.pause_button.text() == "Resume"
        click(training.pause_button)
        qtbot.waitUntil(lambda: training.state == "running" and training.stop_button.isEnabled(), timeout=WORK_MS)
        click(training.stop_button)
        qtbot.waitUntil(lambda: training.state == "stopped", timeout=STOP_MS)
        assert training.progress.value() < training.progress.maximum(), "the run ended at its last step, not stopped"
        ensure_idle(window, qtbot, baseline)

        window.docks["map"].raise_()
        map_panel = window.panels["map"]
        map_panel.set_method("tsne")  # (seconds on the digits: long enough to cancel)
        qtbot.waitUntil(lambda: map_panel.busy and clickable(map_panel.cancel_button), timeout=WORK_MS)
        click(map_panel.cancel_button)
        qtbot.waitUntil(lambda: not map_panel.busy, timeout=5_000)
        ensure_idle(window, qtbot, baseline)

        window.docks["compare"].raise_()
        compare = window.panels["compare"]
        qtbot.waitUntil(lambda: clickable(compare.demo_button), timeout=WORK_MS)
        click(compare.demo_button)
        click(compare.cancel_button)
        qtbot.waitUntil(lambda: not compare.cancel_button.isEnabled(), timeout=10_000)
        ensure_idle(window, qtbot, baseline)
    assert not exceptions, "\n".join("".join(traceback.format_exception(*e)) for e in exceptions)
    errors = [e for e in watch.errors() if not any(re.search(p, e) for p in CANCEL_MESSAGES)]
    assert not errors, errors
