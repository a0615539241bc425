"""pytest-qt tests of the latent panel (sliders, traversal, samples, watching diffusion denoise), driven through its
real widgets (the morph panel's are in test_morph_panel.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from core.image import latent
from core.image.imaging import to_uint8
from gui.image_grid import ImageGrid
from gui.latent_panel import SLIDER_STEPS, LatentPanel
from image_helpers import shown
from models import build_model

WAIT_MS = 15_000


@pytest.fixture
def latent_panel(qtbot, context, vae):
    panel = LatentPanel(context)
    qtbot.addWidget(panel)
    panel.resize(900, 700)
    panel.show()
    context.set_model(vae)
    session = panel.session
    qtbot.waitUntil(lambda: session.stats is not None and panel.view.has_image and session.samples is not None
                    and session.traversal is not None, timeout=WAIT_MS)
    return panel


# --- latent panel ------------------------------------------------------------------------------
def test_moving_a_slider_changes_the_decoded_image(qtbot, latent_panel):
    panel = latent_panel
    assert len(panel.sliders) == 8 and panel.sliders[0].value() == SLIDER_STEPS // 2
    session = panel.session
    before, z_before = shown(panel.view), session.z.copy()
    panel.sliders[3].setFocus()
    with qtbot.waitSignal(panel.decoded, timeout=WAIT_MS):
        qtbot.keyClick(panel.sliders[3], Qt.Key.Key_End)  # the hand pushes slider z3 to its top
    assert panel.sliders[3].value() == SLIDER_STEPS
    moved = session.z - z_before
    assert moved[3] == pytest.approx(3 * session.stats.scales[3], rel=1e-4)
    assert np.allclose(np.delete(moved, 3), 0, atol=1e-6)
    assert panel.slider_values[3].text() == "+3.0σ"
    assert not np.array_equal(shown(panel.view), before)


def rendered(images) -> np.ndarray:
    """The pixels an ImageGrid shows for ``images``."""
    grid = ImageGrid()
    grid.set_images(images)
    return shown(grid)


def test_many_quick_slider_moves_end_on_the_last_position(qtbot, latent_panel):
    panel = latent_panel
    for pos in range(0, SLIDER_STEPS + 1, 50):
        panel.sliders[1].setValue(pos)
    session = panel.session
    last = session.request
    qtbot.waitUntil(lambda: session.shown_request == last, timeout=WAIT_MS)
    assert np.array_equal(shown(panel.view), rendered(latent.decode_codes(panel.model, session.z)))


def test_start_from_selected_item_random_and_reset(qtbot, latent_panel, context, digits):
    panel = latent_panel
    assert not panel.from_item_button.isEnabled()
    context.set_current_index(42)
    assert panel.from_item_button.isEnabled()
    qtbot.mouseClick(panel.from_item_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.view.title.text() == "Decoded: item 42", timeout=WAIT_MS)
    session = panel.session
    np.testing.assert_allclose(session.z, latent.encode_data(panel.model, digits, [42])[0], atol=1e-5)
    qtbot.mouseClick(panel.random_button, Qt.MouseButton.LeftButton)
    assert not np.allclose(session.z, session.stats.mean)
    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    np.testing.assert_allclose(session.z, session.stats.mean)
    assert all(s.value() == SLIDER_STEPS // 2 for s in panel.sliders)


def test_traversal_grid_sweeps_the_chosen_axis_and_saves(qtbot, latent_panel, tmp_path):
    panel = latent_panel
    session = panel.session
    assert len(session.traversal.images) == 8 * 9  # all axes, 9 steps, filled when the model arrived
    panel.axis_combo.setCurrentIndex(panel.axis_combo.findData(2))
    panel.steps_spin.setValue(5)
    qtbot.mouseClick(panel.traverse_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(session.traversal.images) == 5, timeout=WAIT_MS)
    expected = latent.decode_codes(panel.model, latent.traversal(session.stats, session.z, [2], 5))
    np.testing.assert_array_equal(session.traversal.images, to_uint8(expected))
    path = panel.save_traversal(tmp_path / "traversal.png")
    with Image.open(path) as im:
        assert im.size[0] > 5 * 8 and im.size[0] / im.size[1] == pytest.approx(5, rel=0.1)


def test_sample_grid_fixed_and_new_seeds_temperature_and_png(qtbot, latent_panel, tmp_path):
    panel = latent_panel
    panel.grid_combo.setCurrentIndex(panel.grid_combo.findData(4))
    panel.seed_spin.setValue(7)
    qtbot.mouseClick(panel.sample_button, Qt.MouseButton.LeftButton)
    session = panel.session
    qtbot.waitUntil(lambda: session.samples is not None and len(session.samples.images) == 16, timeout=WAIT_MS)
    first = session.samples.images
    np.testing.assert_array_equal(first, to_uint8(latent.sample_grid(panel.model, 16, 1.0, 7)))
    session.samples = None
    qtbot.mouseClick(panel.sample_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: session.samples is not None, timeout=WAIT_MS)
    np.testing.assert_array_equal(session.samples.images, first)  # fixed seed: the same grid
    qtbot.mouseClick(panel.new_seed_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.seed_spin.value() != 7 and session.samples.images is not first
                    and not np.array_equal(session.samples.images, first), timeout=WAIT_MS)
    panel.temperature_spin.setValue(0.0)
    qtbot.mouseClick(panel.sample_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "temperature 0," in panel.samples_view.title.text(), timeout=WAIT_MS)
    assert (session.samples.images == session.samples.images[:1]).all()
    path = panel.save_samples(tmp_path / "samples.png")
    with Image.open(path) as im:
        assert im.size[0] == im.size[1] and im.size[0] >= 4 * 8


def test_models_without_a_prior_cannot_sample(qtbot, context):
    panel = LatentPanel(context)
    qtbot.addWidget(panel)
    ae = build_model("ae", {"image_shape": [1, 8, 8], "mean": [0.3], "std": [0.3], "latent_dim": 4}).eval()
    context.set_model(ae)
    qtbot.waitUntil(lambda: panel.session.stats is not None and panel.view.has_image, timeout=WAIT_MS)
    assert len(panel.sliders) == 4
    assert not panel.sample_button.isEnabled() and not panel.new_seed_button.isEnabled()
    assert "no prior" in panel.samples_view.title.text()


def test_a_model_that_does_not_fit_the_data_uses_the_prior(qtbot, context):
    panel = LatentPanel(context)
    qtbot.addWidget(panel)
    context.set_current_index(3)
    big = build_model("vae", {"image_shape": [1, 28, 28], "mean": [0.1], "std": [0.3], "latent_dim": 70}).eval()
    context.set_model(big)
    qtbot.waitUntil(lambda: panel.session.stats is not None, timeout=WAIT_MS)
    assert panel.session.stats.count == 0 and len(panel.sliders) == 64
    assert "prior" in panel.info.text()
    assert not panel.from_item_button.isEnabled()


def test_before_a_model_the_panel_says_what_to_do(qtbot, context, vae):
    panel = LatentPanel(context)
    qtbot.addWidget(panel)
    panel.show()
    assert "No model yet" in panel.info.text() and not panel.sliders
    assert "once there is a model" in panel.view.canvas.placeholder and not panel.view.has_image
    assert "once there is a model" in panel.samples_view.canvas.placeholder
    assert not any(b.isEnabled() for b in (panel.random_button, panel.traverse_button, panel.sample_button))
    qtbot.mouseClick(panel.random_button, Qt.MouseButton.LeftButton)  # disabled: nothing happens, nothing breaks
    context.set_model(vae)
    qtbot.waitUntil(lambda: panel.view.has_image and panel.session.samples is not None, timeout=WAIT_MS)
    assert panel.random_button.isEnabled() and len(panel.sliders) == 8


def test_latest_only_runs_the_newest_request_and_drops_the_stale_ones(qtbot):
    import threading

    from core.errors import LatentExplorerError
    from gui.background.latest import LatestOnly
    started, gate, ran = threading.Event(), threading.Event(), []

    def work(i):
        if i == 0:
            started.set()
            gate.wait(5)
        ran.append(i)
        return i * 10

    def broken(_i):
        raise LatentExplorerError("no can do")

    runner = LatestOnly()
    results, failures = [], []
    runner.done.connect(lambda tag, value: results.append((tag, value)))
    runner.failed.connect(lambda tag, message, tb: failures.append((tag, message, tb)))
    runner.submit(0, work, 0)
    assert started.wait(5)
    for i in range(1, 10):  # the hand keeps moving while the first decode runs
        runner.submit(i, work, i)
    gate.set()
    qtbot.waitUntil(lambda: len(results) == 2, timeout=WAIT_MS)
    assert ran == [0, 9] and results == [(0, 0), (9, 90)]
    runner.submit("x", broken, 1)
    qtbot.waitUntil(lambda: len(failures) == 1, timeout=WAIT_MS)
    assert failures == [("x", "no can do", "")]
    runner.close()


# --- watching a diffusion model denoise ------------------------------------------------------------
def close_uint8(images: np.ndarray, expected) -> bool:
    """Whether uint8 ``images`` are float ``expected`` in [0, 1], up to one rounding step."""
    return int(np.abs(images.astype(int) - to_uint8(expected).astype(int)).max()) <= 1


def tiny_diffusion(sample_steps: int):
    torch.manual_seed(0)  # an untrained model: some random weights predict the same clamped images at every step
    return build_model("diffusion", {"image_shape": [1, 8, 8], "channels": [8, 8], "sample_steps": sample_steps}).eval()


def test_show_denoising_is_offered_for_diffusion_models_only(qtbot, context):
    panel = LatentPanel(context)
    qtbot.addWidget(panel)
    panel.show()
    context.set_model(build_model("vae", {"image_shape": [1, 8, 8], "mean": [0.3], "std": [0.3], "latent_dim": 4}))
    qtbot.waitUntil(lambda: panel.session.samples is not None, timeout=WAIT_MS)
    assert not panel.denoise_check.isVisible()
    context.set_model(tiny_diffusion(4))
    qtbot.waitUntil(lambda: panel.session.stats is not None, timeout=WAIT_MS)
    assert panel.denoise_check.isVisible() and panel.denoise_check.isEnabled()


def test_show_denoising_updates_the_grid_after_every_step(qtbot, context):
    panel = LatentPanel(context)
    qtbot.addWidget(panel)
    panel.resize(900, 700)
    panel.show()
    model = tiny_diffusion(8)
    context.set_model(model)
    session = panel.session
    qtbot.waitUntil(lambda: session.samples is not None, timeout=WAIT_MS)
    steps, titles, pictures = [], [], []

    def on_step(step, total):
        steps.append((step, total))
        titles.append(panel.samples_view.title.text())
        pictures.append(shown(panel.samples_view))

    panel.denoise_shown.connect(on_step)
    qtbot.mouseClick(panel.denoise_check, Qt.MouseButton.LeftButton)
    assert panel.denoise_check.isChecked()
    panel.grid_combo.setCurrentIndex(panel.grid_combo.findData(4))
    panel.seed_spin.setValue(5)
    session.samples = None
    qtbot.mouseClick(panel.sample_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: session.samples is not None, timeout=WAIT_MS)
    assert steps == [(k, 8) for k in range(1, 9)]  # one grid update per DDIM step
    assert titles[0].startswith("Denoising: step 1/8, t = ") and "t = -1" in titles[-1]
    assert not np.array_equal(pictures[0], pictures[-1]), "the predictions change as the noise goes"
    assert session.samples.images.shape == (16, 1, 8, 8)
    assert close_uint8(session.samples.images, latent.sample_grid(model, 16, 1.0, 5))  # the same samples
    assert panel.samples_view.title.text().startswith("16 samples from the prior")


def test_drawing_again_cancels_the_denoising_being_watched(qtbot, context):
    panel = LatentPanel(context)
    qtbot.addWidget(panel)
    panel.show()
    model = tiny_diffusion(3)
    context.set_model(model)
    session = panel.session
    qtbot.waitUntil(lambda: session.samples is not None, timeout=WAIT_MS)
    model.sample_steps = 400  # a long denoising, to cut short
    panel.denoise_check.setChecked(True)
    panel.grid_combo.setCurrentIndex(panel.grid_combo.findData(10))
    panel.seed_spin.setValue(1)
    with qtbot.waitSignal(panel.denoise_shown, timeout=WAIT_MS):
        qtbot.mouseClick(panel.sample_button, Qt.MouseButton.LeftButton)
    first = panel.sample_job
    model.sample_steps = 3
    panel.grid_combo.setCurrentIndex(panel.grid_combo.findData(2))
    panel.seed_spin.setValue(2)
    session.samples = None
    with qtbot.waitSignal(first.cancelled, timeout=WAIT_MS):
        qtbot.mouseClick(panel.sample_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: session.samples is not None, timeout=WAIT_MS)
    assert session.samples.images.shape == (4, 1, 8, 8)  # the new grid, never the cancelled one
    assert close_uint8(session.samples.images, latent.sample_grid(model, 4, 1.0, 2))
    assert panel.samples_view.title.text().startswith("4 samples from the prior")


def test_the_save_png_buttons_write_the_grid_the_user_sees(qtbot, latent_panel, tmp_path, monkeypatch):
    panel = latent_panel
    for button, grid, name in ((panel.save_traversal_button, panel.session.traversal, "traversal.png"),
                               (panel.save_samples_button, panel.session.samples, "samples.png")):
        target = tmp_path / name
        monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, t=target, **k: (str(t), "")))
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        with Image.open(target) as im:
            side = grid.images.shape[-1]
            assert im.size[0] >= grid.cols * side and im.size[1] >= len(grid.images) // grid.cols * side
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: ("", "")))  # cancelled
    qtbot.mouseClick(panel.save_samples_button, Qt.MouseButton.LeftButton)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples.png", "traversal.png"]


def test_a_typed_count_out_of_range_is_named_and_not_drawn(qtbot, latent_panel):
    panel = latent_panel
    for spin, text, button in ((panel.steps_spin, "50", panel.traverse_button),
                               (panel.temperature_spin, "9", panel.sample_button)):
        assert button.isEnabled()
        spin.setFocus()
        spin.selectAll()
        qtbot.keyClicks(spin, text)
        qtbot.keyClick(spin, Qt.Key.Key_Tab)
        assert spin.value() == float(text) and spin.problem() in spin.toolTip()  # kept, not put back
        assert "out of range" in spin.problem() and not button.isEnabled()
        spin.setValue(spin.low)
        assert not spin.problem() and button.isEnabled()


def test_a_failed_save_message_goes_once_a_save_works(qtbot, latent_panel, tmp_path):
    panel = latent_panel
    (tmp_path / "a-file").write_text("")
    panel.save_traversal(tmp_path / "a-file" / "t.png")  # a folder that is a file
    problem = panel.info.text()
    assert "a-file" in problem
    assert panel.save_traversal(tmp_path / "t.png") is not None
    assert panel.info.text() == panel.session.describe() != problem
