"""GAN, flow and diffusion through the real setup and training panels, and the compare panel (pytest-qt)."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from core.image.latent import sample_grid
from core.train.checkpoint import load_checkpoint
from gui.bridge import TrainingBridge
from gui.compare_panel import COLUMNS, ComparePanel
from gui.context import AppContext
from zoo_helpers import train_tiny

LONG_S = 120_000  # ms; the CI machine is slow and shared

#: Tiny settings typed into the setup form, and the curves each family must show.
FAMILIES = {
    "gan": ({"latent_dim": 8, "channels": "16 32", "invert_steps": 20}, {"d_loss", "g_loss", "d_real", "d_fake"}),
    "flow": ({"levels": 2, "steps": 2, "hidden": 16}, {"bits_per_dim"}),
    "diffusion": ({"channels": "16 32", "sample_steps": 5}, {"noise_mse"}),
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_is_picked_trained_sampled_saved_and_reloaded(window, qtbot, tmp_path, family, cache_dir):
    settings, curves = FAMILIES[family]
    setup, training = window.panels["setup"], window.panels["training"]
    setup.family_combo.setCurrentIndex(setup.family_combo.findData(family))
    fields = setup.family_fields(family)
    assert not setup.message.isVisible()
    for param, value in settings.items():
        fields[param].set_raw(value)
    setup.epochs_spin.setValue(2)
    setup.batch_spin.setValue(128)
    qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: training.state == "finished", timeout=LONG_S)
    qtbot.waitUntil(lambda: window.context.model is not None, timeout=LONG_S)
    assert curves <= set(training.plots.keys())
    assert training.previews["samples"].has_image and training.previews["samples"].isVisible()
    model = window.context.model
    assert model.name == family
    samples = sample_grid(model, 6, seed=1)
    assert samples.shape == (6, 1, 8, 8) and 0 <= float(samples.min()) and float(samples.max()) <= 1

    copy = tmp_path / "saved.pt"
    window.save_checkpoint_as(copy)
    qtbot.waitUntil(copy.is_file, timeout=LONG_S)
    reloaded, payload = load_checkpoint(copy)
    assert reloaded.config == model.config and payload["history"]
    # the same samples (to float rounding: panels may run the model in other threads meanwhile)
    np.testing.assert_allclose(sample_grid(reloaded, 6, seed=1).numpy(), samples.numpy(), atol=1e-6)
    compare = window.panels["compare"]
    assert window.context.checkpoint_path.resolve() in compare.checkpoints  # trained runs join the comparison


@pytest.fixture(scope="module")
def zoo(digits, tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    return {name: train_tiny(name, digits, root / name, epochs=n)[1] for name, n in
            (("vae", 3), ("gan", 3), ("ae", 1))}


@pytest.fixture
def panel(qtbot, digits):
    context = AppContext()
    widget = ComparePanel(context, TrainingBridge())
    qtbot.addWidget(widget)
    context.set_data(digits, "digits")
    widget.resize(900, 700)
    widget.show()
    return widget


def test_compare_panel_scores_checked_models_into_a_table(panel, qtbot, zoo, cache_dir, tmp_path):
    for name in ("vae", "gan", "ae"):
        panel.add_checkpoint(zoo[name])
    panel.add_checkpoint(zoo["vae"])  # no duplicates
    assert panel.checkpoints == [zoo[n].resolve() for n in ("vae", "gan", "ae")]
    panel.samples_spin.setValue(100)
    qtbot.mouseClick(panel.compare_button, Qt.MouseButton.LeftButton)
    assert not panel.compare_button.isEnabled() and panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: panel.comparison is not None, timeout=LONG_S)
    assert panel.compare_button.isEnabled() and not panel.cancel_button.isEnabled()
    table = panel.table
    assert table.rowCount() == 4  # the real-image reference and three models
    cells = {table.item(r, 0).text(): [table.item(r, 2 + j).text() for j in range(len(COLUMNS))]
             for r in range(table.rowCount())}
    header = [c[0] for c in COLUMNS]
    vae = dict(zip(header, cells[next(k for k in cells if k.startswith("vae"))]))
    assert float(vae["Fréchet ↓"]) > 0 and vae["Classes"].endswith("/10")
    assert vae["NLL bits/dim ↓"].startswith("≤")
    gan = dict(zip(header, cells[next(k for k in cells if k.startswith("gan"))]))
    assert gan["NLL bits/dim ↓"] == "—" and float(gan["ms / image ↓"].split(" ±")[0]) > 0  # (the median ± its spread)
    ae_row = next(r for r in range(table.rowCount()) if table.item(r, 0).text().startswith("ae"))
    assert "no prior" in table.item(ae_row, 1).text()
    assert table.cellWidget(0, 1).pixmap().height() > 0  # sample strips
    assert table.isColumnHidden(3)  # no Inception weights here: no Inception FID column
    assert "accuracy" in panel.status.text()
    panel.grab().save(str(tmp_path / "compare.png"))

    panel.list.item(0).setCheckState(Qt.CheckState.Unchecked)  # only the checked models are compared
    panel.list.item(2).setCheckState(Qt.CheckState.Unchecked)
    qtbot.mouseClick(panel.compare_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.task is None, timeout=LONG_S)
    assert [r.family for r in panel.comparison.reports] == ["gan"]

    panel.context.set_data(panel.context.data, "digits")  # another data set: the list and table start over
    assert panel.list.count() == 0 and panel.table.rowCount() == 0 and not panel.compare_button.isEnabled()


def test_compare_panel_cancels_and_adds_runs(panel, qtbot, zoo, cache_dir, monkeypatch, tmp_path):
    panel.add_checkpoint(zoo["gan"])
    panel.samples_spin.setValue(20_000)
    qtbot.mouseClick(panel.compare_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.task is None, timeout=LONG_S)
    assert panel.comparison is None and panel.status.text() == "cancelled" and panel.compare_button.isEnabled()

    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(zoo["vae"].parents[1]))  # the zoo's folder as the run folder
    panel.list.clear()
    panel.find_runs()
    qtbot.waitUntil(lambda: panel.list.count() == 3, timeout=LONG_S)
    assert set(panel.checkpoints) == {p.resolve() for p in zoo.values()}
