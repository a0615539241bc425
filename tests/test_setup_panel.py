"""Setup panel follow-ups, driven through the real widgets (pytest-qt): latent diffusion's base model row,
per-family default learning rates, and data sets loaded by other panels.

Runs are tiny (digits, 1 epoch); every test leaves no training thread behind.
"""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from core.checkpoint import load_checkpoint
from core.data import load_dataset
from core.loop import TrainConfig
from core.recipe import image_config
from core.trainer import Run, Trainer
from models import family

LONG_S = 60_000  # ms: generous waits; the CI machine is slow and shared


@pytest.fixture(scope="module")
def vae_checkpoint(tmp_path_factory, digits):
    """A tiny VAE trained through core for one epoch on digits."""
    out = tmp_path_factory.mktemp("vae")
    train_idx, _ = digits.split()
    config = image_config("vae", digits, train_idx, latent_dim=3, hidden=[16])
    Trainer(Run("vae", config, digits, "digits", TrainConfig(epochs=1, batch_size=128), out)).train()
    return out / "checkpoint.pt"


def choose_family(setup, family: str) -> None:
    setup.family_combo.setCurrentIndex(setup.family_combo.findData(family))


def base_row_shown(setup) -> bool:
    return setup.base_row.isVisibleTo(setup)


def test_latent_diffusion_shows_the_base_row_defaulting_to_the_current_vae(window, qtbot, vae_checkpoint):
    setup = window.panels["setup"]
    choose_family(setup, "vae")
    assert not base_row_shown(setup)
    window.open_checkpoint(vae_checkpoint)
    qtbot.waitUntil(lambda: window.context.model is not None, timeout=LONG_S)
    choose_family(setup, "latent-diffusion")
    assert base_row_shown(setup) and not setup.message.isVisible()  # no "cannot set yet" any more
    assert setup.base_edit.isReadOnly() and setup.base_edit.text() == str(window.context.checkpoint_path)
    choose_family(setup, "gan")
    assert not base_row_shown(setup)


def test_latent_diffusion_trains_on_the_chosen_base(window, qtbot, vae_checkpoint):
    setup, training = window.panels["setup"], window.panels["training"]
    choose_family(setup, "latent-diffusion")
    fields = setup.family_fields("latent-diffusion")
    for param, value in {"hidden": 16, "depth": 1, "timesteps": 20, "sample_steps": 2}.items():
        fields[param].widget.setValue(value)
    setup.set_base_path(vae_checkpoint)  # what "Choose…" does after the dialog
    setup.epochs_spin.setValue(1)
    setup.batch_spin.setValue(128)
    rows = []
    window.bridge.metrics.connect(rows.append)
    qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: training.state == "finished", timeout=LONG_S)
    assert not setup.message.isVisible()
    assert rows and all(r["loss"] == r["loss"] for r in rows) and {"train", "val"} <= {r["split"] for r in rows}
    qtbot.waitUntil(lambda: window.context.model is not None and window.context.model.name == "latent-diffusion",
                    timeout=LONG_S)
    model, _ = load_checkpoint(window.context.checkpoint_path)
    base, _ = load_checkpoint(vae_checkpoint)
    assert model.config["base"]["config"] == base.config  # the base went in, with its trained weights
    assert all((model.base.state_dict()[k] == v).all() for k, v in base.state_dict().items())


@pytest.mark.parametrize("problem", ["corrupt", "missing", "none"])
def test_bad_base_is_reported_inline_and_nothing_starts(window, qtbot, tmp_path, problem):
    setup, training = window.panels["setup"], window.panels["training"]
    choose_family(setup, "latent-diffusion")
    if problem == "corrupt":
        (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
        setup.set_base_path(tmp_path / "bad.pt")
    elif problem == "missing":
        setup.set_base_path(tmp_path / "gone.pt")
    qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(setup.message.isVisible, timeout=LONG_S)
    expected = {"corrupt": "bad.pt: not a readable", "missing": "gone.pt: no such checkpoint",
                "none": "choose its checkpoint as the Base model"}[problem]
    assert expected in setup.message.text()
    assert window.bridge.worker is None and training.start_button.isEnabled() and training.state == "idle"


def test_learning_rate_follows_the_family_until_edited(window, qtbot):
    setup = window.panels["setup"]
    assert family("gan").lr == 5e-4 and family("flow").lr == 1e-3
    choose_family(setup, "gan")
    assert float(setup.lr_edit.text()) == 5e-4
    choose_family(setup, "flow")
    assert float(setup.lr_edit.text()) == 1e-3
    choose_family(setup, "vae")
    assert float(setup.lr_edit.text()) == TrainConfig.lr
    setup.lr_edit.clear()
    qtbot.keyClicks(setup.lr_edit, "3e-4")  # typed by hand: it stays
    choose_family(setup, "gan")
    assert setup.lr_edit.text() == "3e-4"
    assert setup.read_form()[2].lr == 3e-4


def test_data_loaded_elsewhere_shows_in_the_panel(window, qtbot, shared_data):
    setup = window.panels["setup"]
    assert setup.data_combo.currentData() == "digits"
    source = str(shared_data / "olivetti" / "olivettifaces.mat")
    faces = load_dataset(source)
    window.context.set_data(faces, source)  # as the morph panel's Faces demo does
    assert setup.data_combo.currentData() == source
    assert setup.data_info.text().startswith(f"{len(faces):,} images, 1×64×64")
