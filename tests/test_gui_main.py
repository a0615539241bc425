"""The main window, the setup and training panels, driven through their real widgets (pytest-qt).

Runs are tiny (digits, small MLPs, 1-3 epochs); every test leaves no training thread behind.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLabel, QMessageBox

from core.image.trainer import Run, Trainer
from core.runs.recipe import image_config
from core.train.checkpoint import load_checkpoint
from core.train.loop import TrainConfig
from gui.background.tasks import running_tasks
from gui.image_grid import ImageGrid
from gui.main_window import MainWindow
from gui.metric_plots import MetricPlots
from gui.panels import panel_specs
from gui.run_folders import bring_over_legacy_runs
from gui.settings import RUNS_ENV, legacy_runs_root, recent_files, runs_root

LONG_S = 60_000  # ms: generous waits; the CI machine is slow and shared


@pytest.fixture
def dialogs(monkeypatch) -> list[tuple[str, str, str]]:
    """Error dialogs the window opens: (title, text, details), instead of showing them."""
    shown = []
    monkeypatch.setattr(QMessageBox, "open", lambda box: shown.append((box.windowTitle(), box.text(),
                                                                       box.detailedText())))
    return shown


def tiny_setup(window: MainWindow, epochs: int, family: str = "vae") -> None:
    setup = window.panels["setup"]
    setup.family_combo.setCurrentIndex(setup.family_combo.findData(family))
    fields = setup.family_fields(family)
    fields["latent_dim"].widget.setValue(4)
    fields["hidden"].widget.setText("32")
    setup.epochs_spin.setValue(epochs)
    setup.batch_spin.setValue(128)


def train_checkpoint(path: Path, data, source: str) -> Path:
    """A real checkpoint, trained headless for one epoch."""
    train_idx, _ = data.split()
    config = image_config("ae", data, train_idx, latent_dim=3, hidden=[16])
    Trainer(Run("ae", config, data, source, TrainConfig(epochs=1, batch_size=128), path.parent)).train()
    return path.parent / "checkpoint.pt"


def test_window_has_a_dock_per_panel_with_view_toggles(window):
    specs = panel_specs()
    assert set(window.docks) == {s.key for s in specs}
    view_actions = window.menuBar().actions()[1].menu().actions()
    first_in_area = {}
    for spec in specs:
        dock = window.docks[spec.key]
        assert dock.windowTitle() == spec.title and dock.widget() is window.panels[spec.key]
        assert dock.toggleViewAction() in view_actions
        if spec.area in first_in_area:  # same area: tabbed together
            assert dock in window.tabifiedDockWidgets(first_in_area[spec.area])
        first_in_area.setdefault(spec.area, dock)
    dock = window.docks["setup"]
    dock.toggleViewAction().trigger()
    assert not dock.isVisible()
    dock.toggleViewAction().trigger()
    assert dock.isVisible()


def test_start_trains_with_live_curves_previews_and_loads_the_model(window, qtbot, monkeypatch):
    import gui.main_window
    set_aside = []  # what the run's start imported is set aside from collections (issue 22 item 9: a 100 ms stall)
    monkeypatch.setattr(gui.main_window, "set_aside", lambda: set_aside.append(window.panels["training"].state))
    tiny_setup(window, epochs=3)
    training = window.panels["training"]
    assert training.start_button.isEnabled() and not training.stop_button.isEnabled()
    qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: training.state == "finished", timeout=LONG_S)
    assert len(set_aside) == 1
    plots = training.plots
    qtbot.waitUntil(lambda: {"loss", "recon", "kl", "r2"} <= set(plots.keys()), timeout=5_000)
    qtbot.waitUntil(lambda: all(len(plots.data(k, "val")[0]) == 3 for k in ("loss", "recon", "kl", "r2")),
                    timeout=5_000)  # the timer draws the plots one by one
    for key in ("loss", "recon", "kl", "r2"):
        x, y = plots.data(key, "train")
        assert len(x) >= 3 and np.isfinite(y).all() and x[-1] == pytest.approx(3.0)
    np.testing.assert_allclose(plots.data("loss", "val")[0], [1.0, 2.0, 3.0])
    assert "samples_per_s" not in plots.keys() and "epoch" not in plots.keys()
    for key in ("original", "reconstruction", "samples"):
        assert training.previews[key].has_image and training.previews[key].isVisible()
    assert training.progress.value() == 1000
    assert training.start_button.isEnabled()
    assert not training.pause_button.isEnabled() and not training.stop_button.isEnabled()
    # the trained checkpoint becomes the app's model; the run folder has checkpoint + metrics
    qtbot.waitUntil(lambda: window.context.model is not None, timeout=LONG_S)
    run_dir = window.context.checkpoint_path.parent
    assert window.context.model.name == "vae" and window.context.model.latent_dim == 4
    assert (run_dir / "checkpoint.pt").is_file() and (run_dir / "metrics.jsonl").is_file()
    assert str(window.context.checkpoint_path.resolve()) in recent_files(window.settings)
    assert window.save_action.isEnabled()


def test_pause_resume_and_stop(window, qtbot):
    tiny_setup(window, epochs=2000)
    training = window.panels["training"]
    rows = lambda: training.plots.series["loss", "train"].n if ("loss", "train") in training.plots.series else 0  # noqa: E731
    qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: training.state == "running" and rows() >= 2, timeout=LONG_S)
    assert not training.start_button.isEnabled()

    qtbot.mouseClick(training.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: training.state == "paused", timeout=LONG_S)
    assert training.pause_button.text() == "Resume" and training.pause_button.isEnabled()
    assert training.stop_button.isEnabled() and not training.start_button.isEnabled()
    paused_rows = rows()
    qtbot.wait(400)
    assert rows() == paused_rows, "a paused run must not train"

    qtbot.mouseClick(training.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: training.state == "running" and rows() > paused_rows, timeout=LONG_S)
    assert training.pause_button.text() == "Pause"

    qtbot.mouseClick(training.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: training.state == "stopped", timeout=LONG_S)
    qtbot.waitUntil(lambda: not window.bridge.busy, timeout=LONG_S)
    assert training.start_button.isEnabled()
    assert not training.pause_button.isEnabled() and not training.stop_button.isEnabled()
    assert window.panels["setup"].inputs[0].isEnabled()
    qtbot.waitUntil(lambda: window.context.model is not None, timeout=LONG_S)  # the stopped run's checkpoint


def test_open_and_save_checkpoint_through_the_file_menu_code_path(window, qtbot, tmp_path, digits):
    path = train_checkpoint(tmp_path / "run" / "checkpoint.pt", digits, "digits")
    window.open_checkpoint(path)  # what File > Open checkpoint… does once a file is chosen
    qtbot.waitUntil(lambda: window.context.model is not None, timeout=LONG_S)
    assert window.context.checkpoint_path == path and window.context.model.latent_dim == 3
    assert recent_files(window.settings)[0] == str(path.resolve())
    window._fill_recent_menu()
    assert any(a.toolTip() == str(path.resolve()) for a in window.recent_menu.actions())

    copy = tmp_path / "saved" / "copy.pt"
    copy.parent.mkdir()
    window.save_checkpoint_as(copy)
    qtbot.waitUntil(copy.is_file, timeout=LONG_S)
    model, payload = load_checkpoint(copy)
    assert model.latent_dim == 3 and payload["history"]


def test_checkpoint_for_other_images_opens_its_data_set_first(window, qtbot, tmp_path):
    rng = np.random.default_rng(0)
    npz = tmp_path / "blobs.npz"
    np.savez(npz, images=(rng.random((64, 12, 12)) * 255).astype(np.uint8))
    from core.image.data import load_dataset
    path = train_checkpoint(tmp_path / "run" / "checkpoint.pt", load_dataset(str(npz)), str(npz))
    window.open_checkpoint(path)
    qtbot.waitUntil(lambda: window.context.model is not None, timeout=LONG_S)
    assert window.context.data.image_shape == (1, 12, 12) and window.context.data_source == str(npz)


def test_corrupt_checkpoint_shows_an_error_and_keeps_the_model(window, qtbot, tmp_path, digits, dialogs):
    good = train_checkpoint(tmp_path / "run" / "checkpoint.pt", digits, "digits")
    window.open_checkpoint(good)
    qtbot.waitUntil(lambda: window.context.model is not None, timeout=LONG_S)
    model = window.context.model
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a checkpoint" * 10)
    window.open_checkpoint(bad)
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=LONG_S)
    title, text, _details = dialogs[0]
    assert "checkpoint" in title.lower() and str(bad) in text and "not a readable" in text
    assert window.context.model is model and window.isVisible()
    assert str(bad.resolve()) not in recent_files(window.settings)


def test_worker_crash_becomes_an_error_dialog_with_traceback(window, qtbot, tmp_path, dialogs):
    data = window.context.data
    broken = {"image_shape": list(data.image_shape), "mean": [0.5], "std": [0.2], "hidden": [-3]}
    window.bridge.start(Run("vae", broken, data, "digits", TrainConfig(epochs=1), tmp_path / "crash"))
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=LONG_S)
    title, text, details = dialogs[0]
    assert title == "Training failed" and text and "Traceback" in details
    training = window.panels["training"]
    qtbot.waitUntil(lambda: not window.bridge.busy, timeout=LONG_S)
    assert training.state == "error" and training.start_button.isEnabled() and window.isVisible()


def retype(qtbot, edit, text: str) -> None:
    """Replace a line edit's text as a user does: select all, type."""
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, text)


def test_invalid_setup_is_reported_inline_and_nothing_starts(window, qtbot):
    tiny_setup(window, epochs=1)
    setup, training = window.panels["setup"], window.panels["training"]
    hidden = setup.family_fields("vae")["hidden"]
    retype(qtbot, hidden.widget, "abc")
    assert "Hidden sizes" in hidden.widget.toolTip() and "Hidden sizes" in setup.message.text()
    assert not training.start_button.isEnabled() and "Hidden sizes" in training.start_button.toolTip()
    qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
    assert training.state == "idle" and window.bridge.worker is None
    retype(qtbot, setup.lr_edit, "fast")
    assert "Learning rate" in setup.message.text() and "Hidden sizes" in setup.message.text()  # both at once
    retype(qtbot, hidden.widget, "32")
    assert "Hidden sizes" not in hidden.widget.toolTip() and "Hidden sizes" not in setup.message.text()
    qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
    assert "Learning rate" in setup.message.text() and window.bridge.worker is None


def test_conv_model_that_cannot_fit_the_images_is_reported_inline(window, qtbot, tmp_path):
    rng = np.random.default_rng(0)
    npz = tmp_path / "odd.npz"
    np.savez(npz, images=(rng.random((40, 9, 9)) * 255).astype(np.uint8))
    setup, training = window.panels["setup"], window.panels["training"]
    setup.load_source(str(npz))
    qtbot.waitUntil(lambda: window.context.data.image_shape == (1, 9, 9), timeout=LONG_S)
    setup.family_combo.setCurrentIndex(setup.family_combo.findData("conv-ae"))
    qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(setup.message.isVisible, timeout=LONG_S)
    assert "conv-ae cannot be built" in setup.message.text() and training.start_button.isEnabled()
    assert window.bridge.worker is None


def test_bad_data_file_is_reported_inline_and_keeps_the_data(window, qtbot, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"nope")
    setup = window.panels["setup"]
    with qtbot.waitSignal(setup.data_failed, timeout=LONG_S):
        setup.load_source(str(bad))
    assert setup.message.isVisible() and "bad.npz" in setup.message.text()
    assert window.context.data.name == "digits" and setup.data_combo.currentData() == "digits"


def test_fields_follow_the_model_family(window):
    setup = window.panels["setup"]

    def shown(family):
        setup.family_combo.setCurrentIndex(setup.family_combo.findData(family))
        return {f.label for f in setup.fields.values() if f.widget.isVisibleTo(setup)}

    vae, ae, dae, conv = shown("vae"), shown("ae"), shown("dae"), shown("conv-vae")
    assert {"Latent size", "Hidden sizes", "β (KL weight)", "Likelihood"} <= vae and "Noise level" not in vae
    assert {"Latent size", "Hidden sizes"} <= ae and not {"β (KL weight)", "Likelihood", "Noise level"} & ae
    assert dae - ae == {"Noise level"}
    assert "Channels" in conv and "Hidden sizes" not in conv


def test_choices_recent_files_and_layout_persist(qtbot, tmp_path, digits):
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    path = train_checkpoint(tmp_path / "run" / "checkpoint.pt", digits, "digits")
    first.open_checkpoint(path)  # (Setup shows its ae settings…)
    qtbot.waitUntil(lambda: first.context.model is not None, timeout=LONG_S)
    setup = first.panels["setup"]
    setup.family_combo.setCurrentIndex(setup.family_combo.findData("dae"))  # (…and then the user's choices)
    setup.family_fields("dae")["noise_std"].widget.setValue(0.35)
    setup.epochs_spin.setValue(7)
    first.docks["training"].toggleViewAction().trigger()  # hide a dock
    first.close()

    second = MainWindow()
    qtbot.addWidget(second)
    second.show()
    setup = second.panels["setup"]
    assert setup.family_combo.currentData() == "dae" and setup.epochs_spin.value() == 7
    assert setup.family_fields("dae")["noise_std"].widget.value() == pytest.approx(0.35)
    assert recent_files(second.settings) == [str(path.resolve())]
    assert not second.docks["training"].isVisible() and second.docks["setup"].isVisible()


def test_metric_plots_take_any_loss_keys_and_skip_bookkeeping(qtbot):
    plots = MetricPlots()
    qtbot.addWidget(plots)
    plots.reset(x_limit=2.0)
    assert plots.waiting.text == "The curves appear with the first logged steps…"  # not a blank white box
    for step in range(1, 4):
        plots.add_row({"type": "metrics", "split": "train", "step": step, "epoch": step / 2, "loss": 1.0 / step,
                       "d_loss": 0.7, "g_loss": 1.2, "d_real": 0.6, "d_fake": float("nan"), "progress": 0.1,
                       "eta_s": 3.0, "samples_per_s": 100.0, "time": 1e9})
    plots.redraw()
    assert plots.waiting is None
    assert plots.keys() == ["loss", "d_loss", "d_real", "g_loss"]  # NaN-only d_fake: nothing to draw yet
    np.testing.assert_allclose(plots.data("g_loss")[1], [1.2, 1.2, 1.2])
    np.testing.assert_allclose(plots.data("loss")[0], [0.5, 1.0, 1.5])
    assert len(plots.data("loss", "val")[0]) == 0
    (x0, x1), (y0, y1) = plots.plots["loss"].getViewBox().viewRange()
    assert x0 <= 0.0 and 1.5 <= x1 <= 2.1 and y0 <= 1 / 3 and y1 >= 1.0  # all data in view, not past the run's end


def test_qt_binding_keeps_reference_counts():
    """PySide6 6.12.0 on Python 3.11 loses a reference to None on every call of a void method (and one to
    True per signal emit): a long session dies with 'deallocating None'. pyproject.toml excludes it."""
    label = QLabel()
    before = sys.getrefcount(None)
    for _ in range(2000):
        label.setText("x")
    assert sys.getrefcount(None) > before - 100


def test_image_grid_shows_grey_and_colour_batches(qtbot):
    grid = ImageGrid("x")
    qtbot.addWidget(grid)
    assert not grid.has_image
    grid.set_images(np.zeros((16, 1, 8, 8), np.uint8))
    assert grid.canvas.image.width() == 4 * 8 + 5  # 4 columns, 1 px padding around each
    colour = np.zeros((6, 3, 5, 5), np.uint8)
    colour[:, 0] = 255
    grid.set_images(colour, cols=3)
    assert grid.has_image and grid.canvas.image.pixelColor(1, 1).red() == 255
    assert grid.canvas.image.pixelColor(1, 1).green() == 0
    grid.set_images(torch.rand(2, 1, 4, 4))


def test_screenshot_of_a_panel_and_unknown_panel(qtbot, tmp_path, capsys):
    from main import main
    assert main(["--screenshot", str(tmp_path / "x.png"), "--panel", "nope"]) == 1
    err = capsys.readouterr().err
    assert "unknown panel 'nope'" in err and "main" in err and "setup" in err and "training" in err
    out = tmp_path / "setup.png"
    assert main(["--screenshot", str(out), "--panel", "setup"]) == 0
    assert out.stat().st_size > 1000
    qtbot.waitUntil(lambda: running_tasks() == 0, timeout=LONG_S)


# --- the main window's follow-ups (issue 11) ---------------------------------------------------------------
def test_the_training_panel_says_how_to_get_a_run_until_there_is_one(window, qtbot):
    training = window.panels["training"]
    assert not training.has_run and training.empty.isVisible()
    text = training.empty.text()
    assert "<b>Setup</b>" in text and "<b>Start</b>" in text and "File ▸ Open checkpoint…" in text
    assert "File ▸ Follow a run folder…" in text
    tiny_setup(window, epochs=1)
    qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: training.has_run and training.plots.isVisible(), timeout=LONG_S)
    assert not training.empty.isVisible()
    qtbot.waitUntil(lambda: training.state == "finished", timeout=LONG_S)


def test_recent_files_enable_as_soon_as_a_run_finishes(window, qtbot):
    recent = window.recent_menu
    assert recent_files(window.settings) == [] and not recent.menuAction().isEnabled()
    tiny_setup(window, epochs=1)
    qtbot.mouseClick(window.panels["training"].start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.context.checkpoint_path is not None, timeout=LONG_S)
    path = str(window.context.checkpoint_path.resolve())
    assert recent.menuAction().isEnabled() and recent_files(window.settings) == [path]
    entries = [a for a in recent.actions() if a.toolTip() == path]
    assert len(entries) == 1
    window.context.set_model(None)
    entries[0].trigger()  # File ▸ Recent files ▸ 1
    qtbot.waitUntil(lambda: window.context.model is not None, timeout=LONG_S)
    next(a for a in recent.actions() if a.text() == "Clear list").trigger()
    assert recent_files(window.settings) == [] and not recent.menuAction().isEnabled()


def test_runs_go_to_one_clean_folder_and_old_runs_are_brought_over(window, qtbot, tmp_path, monkeypatch, digits):
    monkeypatch.delenv(RUNS_ENV)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))  # the platform's data folder, here
    root, legacy = runs_root(), legacy_runs_root()
    assert root == tmp_path / "share" / "latent-explorer" / "runs"
    assert legacy == tmp_path / "share" / "latent-explorer" / "Latent Explorer" / "runs"  # names doubled
    old = train_checkpoint(legacy / "20240101-120000_ae_digits" / "checkpoint.pt", digits, "digits")
    window.remember_recent(old)
    assert bring_over_legacy_runs(window.settings, legacy, root) == [root / "20240101-120000_ae_digits"]
    moved = root / "20240101-120000_ae_digits" / "checkpoint.pt"
    assert moved.is_file() and not legacy.parent.exists()
    assert recent_files(window.settings) == [str(moved)]
    from core.image.compare import find_checkpoints
    assert find_checkpoints(root, "digits") == [moved]  # Compare's Find runs
    asked = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda _parent, _title, start: asked.append(start) or "")
    window.follow_action.trigger()  # File ▸ Follow a run folder…
    assert asked == [str(root)]
    assert bring_over_legacy_runs(window.settings, legacy, root) == []  # once


def test_the_file_menu_opens_saves_follows_and_quits_with_what_is_chosen(window, qtbot, tmp_path, digits, monkeypatch):
    path = train_checkpoint(tmp_path / "run" / "checkpoint.pt", digits, "digits")
    answer = {}
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(answer["path"]), "")))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(answer["path"]), "")))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(answer["path"])))
    answer["path"] = path
    window.open_action.trigger()  # File ▸ Open checkpoint…
    qtbot.waitUntil(lambda: window.context.model is not None, timeout=LONG_S)
    assert window.context.checkpoint_path == path and window.context.model.latent_dim == 3

    answer["path"] = tmp_path / "copy.pt"
    window.save_action.trigger()  # File ▸ Save checkpoint as…
    qtbot.waitUntil(lambda: recent_files(window.settings)[0] == str((tmp_path / "copy.pt").resolve()), timeout=LONG_S)
    model, payload = load_checkpoint(tmp_path / "copy.pt")
    assert model.latent_dim == 3 and payload["history"]

    answer["path"] = path.parent
    window.follow_action.trigger()  # File ▸ Follow a run folder…
    training = window.panels["training"]
    assert training.has_run and str(path.parent) in training.run_label.text()
    qtbot.waitUntil(lambda: window.bridge.follower is None, timeout=LONG_S)  # (its process ended long ago)
    assert training.state in ("finished", "stopped")

    quit_action = next(a for a in window.menuBar().actions()[0].menu().actions() if a.text() == "&Quit")
    quit_action.trigger()
    assert not window.isVisible()


def test_metric_plots_share_one_x_range_and_show_the_last_point_whole(qtbot):
    from PySide6.QtCore import QPointF
    plots = MetricPlots()
    qtbot.addWidget(plots)
    plots.resize(900, 500)
    plots.show()
    plots.reset()  # a followed run: its length not known
    for epoch in (0.5, 1.0, 1.5, 2.0):  # the KL's points end before the loss's
        plots.add_row({"split": "train", "epoch": epoch, "loss": 1.0 / epoch, **({"kl": epoch} if epoch < 1 else {})})
    plots.redraw()
    ranges = {key: tuple(np.round(plot.getViewBox().viewRange()[0], 6)) for key, plot in plots.plots.items()}
    assert set(ranges) == {"loss", "kl"} and len(set(ranges.values())) == 1, ranges  # one x range for every plot

    plots.reset(x_limit=1.0)  # a one-epoch run
    for epoch in (0.25, 0.5, 0.75, 1.0):
        plots.add_row({"split": "train", "epoch": epoch, "loss": 1.0 / epoch, "recon": 0.5 / epoch})
    plots.add_row({"split": "val", "epoch": 1.0, "loss": 0.9, "recon": 0.45, "r2": 0.5})
    plots.redraw()
    qtbot.wait(50)
    for key in ("loss", "r2"):  # the validation point at the run's end: its marker inside the plot
        view = plots.plots[key].getViewBox()
        y = plots.data(key, "val")[1][-1]
        x_px = view.mapViewToScene(QPointF(1.0, y)).x()
        assert x_px + 6 / 2 + 1 <= view.sceneBoundingRect().right()


def test_a_run_stopped_by_closing_the_window_is_in_recent_files(window, qtbot):
    from gui.settings import app_settings
    tiny_setup(window, epochs=500)
    training = window.panels["training"]
    qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.bridge.state == "running" and window.bridge.worker.trainer is not None
                    and window.bridge.worker.trainer.epoch >= 1, timeout=LONG_S)
    folder = window.bridge.worker.run.out_dir
    window.close()  # stops the run; it saves a checkpoint
    assert (folder / "checkpoint.pt").is_file()
    assert recent_files(app_settings())[:1] == [str((folder / "checkpoint.pt").resolve())]


def test_a_followed_folder_outside_the_runs_root_is_listed_after_a_restart(window, qtbot, digits, tmp_path):
    checkpoint = train_checkpoint(tmp_path / "elsewhere" / "my-run" / "checkpoint.pt", digits, "digits")
    window.follow_run(checkpoint.parent)
    runs = window.panels["training"].runs
    qtbot.waitUntil(lambda: runs.item("my-run") is not None, timeout=LONG_S)
    window.close()
    again = MainWindow()
    qtbot.addWidget(again)
    runs = again.panels["training"].runs
    qtbot.waitUntil(lambda: runs.item("my-run") is not None, timeout=LONG_S)
    again.close()


def test_the_wait_before_the_first_figures_says_what_it_is(window, qtbot):
    tiny_setup(window, epochs=2)
    training = window.panels["training"]
    formats = []
    window.bridge.started.connect(lambda _run: formats.append(training.progress.format()))
    window.bridge.state_changed.connect(lambda _s: formats.append(training.progress.format()))
    qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: training.state == "finished", timeout=LONG_S)
    assert formats[0] == "starting: preparing the data and building the model…"  # (a conv VAE on MNIST: 8-10 s)
    assert formats[1] == "starting: training the first 50 steps; the first figures come after them…"
