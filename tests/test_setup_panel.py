"""The Setup panel driven through the real widgets (pytest-qt): latent diffusion's base model row, per-family
default learning rates, data sets loaded by other panels (listed once), every field checked as the user types,
a loaded model's settings shown with where they came from and Start continuing its run or starting a new one,
download errors that fit the panel, and audio runs that are not the image form.

Runs are tiny (digits, 1 epoch); every test leaves no training thread behind.
"""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from core.errors import DataError
from core.image.data import load_dataset
from core.image.trainer import Run, Trainer
from core.runs.recipe import image_config
from core.train.checkpoint import load_checkpoint, read_checkpoint
from core.train.loop import TrainConfig
from models import FAMILIES, family

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
    setup.schedule_combo.setFocus()
    qtbot.keyClick(setup.schedule_combo, Qt.Key.Key_Down)  # constant -> cosine
    assert setup.schedule_combo.currentData() == "cosine"
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
    assert read_checkpoint(window.context.checkpoint_path)["train_state"]["config"]["lr_schedule"] == "cosine"
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
    expected = {"corrupt": "bad.pt: not a readable", "missing": "gone.pt: no such checkpoint",
                "none": "choose its checkpoint as the Base model"}[problem]
    if problem == "corrupt":  # only reading it tells
        qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(setup.message.isVisible, timeout=LONG_S)
        assert training.start_button.isEnabled()
    else:  # told at once, on the base row; Start stays off and says why
        assert expected in marked(setup.base_edit) and expected in setup.base_edit.toolTip()
        assert not training.start_button.isEnabled() and expected in training.start_button.toolTip()
        qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
    assert expected in setup.message.text()
    assert window.bridge.worker is None and training.state == "idle"


def test_learning_rate_follows_the_family_until_edited(window, qtbot):
    setup = window.panels["setup"]
    assert family("gan").lr == 5e-4 != TrainConfig.lr
    choose_family(setup, "gan")
    assert float(setup.lr_edit.text()) == 5e-4
    choose_family(setup, "vae")
    assert float(setup.lr_edit.text()) == TrainConfig.lr
    setup.lr_edit.clear()
    qtbot.keyClicks(setup.lr_edit, "3e-4")  # typed by hand: it stays
    choose_family(setup, "gan")
    assert setup.lr_edit.text() == "3e-4"
    assert setup.session.train_config().lr == 3e-4


def test_data_loaded_elsewhere_shows_in_the_panel_once(window, qtbot, shared_data):
    setup = window.panels["setup"]
    assert setup.data_combo.currentData() == "digits"
    source = str(shared_data / "olivetti" / "olivettifaces.mat")
    faces = load_dataset(source)
    window.context.set_data(faces, source)  # as the morph panel's Faces demo does
    assert setup.data_info.text().startswith(f"{len(faces):,} images, 1×64×64")
    labels = [setup.data_combo.itemText(i) for i in range(setup.data_combo.count())]
    assert [t for t in labels if "livetti" in t] == ["Olivetti faces (64×64)"]  # one entry, not the file again
    assert setup.data_combo.currentData() == "olivetti" and setup.data_combo.toolTip() == source


# --- the form as a view of the setup session (issues 9 and 11) -------------------------------------------
def marked(widget) -> str:
    """The problem a field is marked with (framed in red, first in its tooltip); '' when it is valid."""
    text = widget.property("problem_text") or ""
    framed = widget.lineEdit() if hasattr(widget, "lineEdit") else widget
    assert bool(text) == ("#cf222e" in framed.styleSheet()) and widget.toolTip().startswith(text)  # (red frame/tint)
    return text


def retype(qtbot, edit, text: str) -> None:
    """Replace a line edit's text as a user does: select all, type."""
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, text)


def test_every_field_is_checked_as_the_user_types_and_start_says_why_it_is_off(window, qtbot):
    setup, training = window.panels["setup"], window.panels["training"]
    hidden = setup.family_fields("vae")["hidden"]
    assert training.start_button.isEnabled() and not marked(hidden.widget) and not setup.message.isVisible()
    retype(qtbot, hidden.widget, "abc")
    retype(qtbot, setup.lr_edit, "fast")
    assert marked(hidden.widget) == "Hidden sizes must be a number, got 'abc'"
    assert marked(setup.lr_edit) == "Learning rate: 'fast' is not a number (e.g. 1e-3)"
    for text in (training.start_button.toolTip(), training.note.text(), setup.message.text()):
        assert "Hidden sizes must be a number" in text and "Learning rate: 'fast'" in text  # every reason at once
    assert not training.start_button.isEnabled()
    qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
    assert window.bridge.worker is None and training.state == "idle"
    retype(qtbot, hidden.widget, "32 16")
    retype(qtbot, setup.lr_edit, "1e-3")
    assert not marked(hidden.widget) and not setup.message.isVisible() and not training.note.isVisible()
    assert training.start_button.isEnabled() and setup.session.model_values()["hidden"] == (32, 16)


@pytest.fixture(scope="module")
def gan_checkpoint(tmp_path_factory, digits):
    """A tiny GAN trained through core for its one epoch on digits."""
    out = tmp_path_factory.mktemp("gan")
    train_idx, _ = digits.split()
    config = image_config("gan", digits, train_idx, **family("gan").tiny)
    Trainer(Run("gan", config, digits, "digits", TrainConfig(epochs=1, batch_size=128, lr=5e-4), out)).train()
    return out / "checkpoint.pt"


def test_a_loaded_gan_shows_in_setup_and_start_continues_its_run(window, qtbot, gan_checkpoint, monkeypatch):
    setup, training = window.panels["setup"], window.panels["training"]
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(gan_checkpoint), ""))
    window.open_action.trigger()  # File ▸ Open checkpoint…
    qtbot.waitUntil(lambda: window.context.model is not None, timeout=LONG_S)
    assert setup.family_combo.currentData() == "gan"  # not the vae the form showed before
    fields = setup.family_fields("gan")
    assert fields["latent_dim"].widget.value() == 8 and fields["channels"].widget.text() == "16 32"
    assert setup.origin_line.text() == f"gan, trained 1 of 1 epochs on digits: the settings of {gan_checkpoint}"
    assert setup.lr_edit.text() == "0.0005" and setup.batch_spin.value() == 128 and setup.epochs_spin.value() == 1
    assert setup.new_radio.isChecked() and setup.continue_radio.isVisible()  # it finished: new run by default
    assert training.start_button.text() == "Start"

    qtbot.mouseClick(setup.continue_radio, Qt.MouseButton.LeftButton)
    assert setup.continue_radio.isChecked() and training.start_button.text() == "Continue"
    assert not training.start_button.isEnabled()
    assert marked(setup.epochs_spin) == "Cannot continue: it has trained 1 epochs: set Epochs above 1 to continue it"
    setup.epochs_spin.setFocus()
    qtbot.keyClick(setup.epochs_spin, Qt.Key.Key_Up)
    assert setup.epochs_spin.value() == 2 and training.start_button.isEnabled()
    assert "Continue gan from epoch 1 to 2, in its folder" in setup.start_info.text()

    started = []
    window.bridge.started.connect(started.append)
    qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: training.state == "finished", timeout=LONG_S)
    run = started[0]
    assert run.resume is not None and run.out_dir == gan_checkpoint.parent and run.model_name == "gan"
    assert "Continuing <b>gan</b>" in training.run_label.text()
    recon, original, samples = (training.previews[k] for k in ("reconstruction", "original", "samples"))
    assert recon.isVisible() and not recon.has_image and not original.isVisible()  # GANs do not reconstruct…
    assert recon.canvas.placeholder.startswith("GAN models do not reconstruct images")
    qtbot.waitUntil(samples.isVisible, timeout=LONG_S)  # …they sample
    qtbot.waitUntil(lambda: load_checkpoint(gan_checkpoint)[1]["train_state"]["epoch"] == 2, timeout=LONG_S)


def test_a_setting_changed_after_loading_trains_a_new_run_not_the_loaded_one(window, qtbot, vae_checkpoint):
    setup, training = window.panels["setup"], window.panels["training"]
    window.open_checkpoint(vae_checkpoint)
    qtbot.waitUntil(lambda: window.context.model is not None, timeout=LONG_S)
    latent = setup.family_fields("vae")["latent_dim"].widget
    assert latent.value() == 3
    latent.setFocus()
    qtbot.keyClick(latent, Qt.Key.Key_Up)
    assert "changed here since, so Start trains a new run" in setup.origin_line.text()
    assert not setup.continue_radio.isEnabled() and setup.new_radio.isChecked()
    assert training.start_button.text() == "Start"
    qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: training.state == "finished", timeout=LONG_S)
    qtbot.waitUntil(lambda: window.context.checkpoint_path not in (None, vae_checkpoint), timeout=LONG_S)
    assert window.context.model.latent_dim == 4 and window.context.checkpoint_path.parent != vae_checkpoint.parent


MNIST_OFFLINE = ("could not download mnist (RuntimeError: Error downloading train-images-idx3-ubyte.gz:\n"
                 "Tried https://ossci-datasets.s3.amazonaws.com/mnist/, got:\n<urlopen error [Errno -2] Name or "
                 "service not known>\nTried http://yann.lecun.com/exdb/mnist/, got:\n<urlopen error [Errno -2] "
                 "Name or service not known>\n); with no internet, put the MNIST files in /data/MNIST "
                 "(torchvision's layout) and try again")


def test_a_download_error_is_one_short_line_naming_the_folder_with_details_behind_a_button(window, qtbot,
                                                                                           monkeypatch):
    setup = window.panels["setup"]

    def offline(source):
        raise DataError(MNIST_OFFLINE)
    monkeypatch.setattr("core.sessions.setup.load_dataset", offline)
    shown = []
    monkeypatch.setattr(QMessageBox, "open", lambda box: shown.append(box.detailedText()))
    width = setup.width()
    setup.data_combo.setFocus()
    with qtbot.waitSignal(setup.data_failed, timeout=LONG_S):
        qtbot.keyClick(setup.data_combo, Qt.Key.Key_Down)  # digits -> MNIST
    line = setup.message
    assert line.isVisible() and line.text() == MNIST_OFFLINE and line.toolTip() == MNIST_OFFLINE
    assert "urlopen" not in line.label.text() and "/data/MNIST" in line.label.text().replace("\n", "")
    assert line.label.text().count("\n") < line.max_lines
    assert setup.width() == width and line.geometry().right() <= setup.width()  # the panel did not grow
    assert window.status_line.label.text().count("\n") < window.status_line.max_lines
    assert window.context.data.name == "digits" and setup.data_combo.currentData() == "digits"
    qtbot.mouseClick(line.details_button, Qt.MouseButton.LeftButton)
    assert shown == [MNIST_OFFLINE]


def test_an_audio_run_is_not_presented_as_the_image_settings(window, qtbot, shared_data, tmp_path):
    from audio_helpers import speech_subset
    setup, training, audio = window.panels["setup"], window.panels["training"], window.panels["audio"]
    audio.train.speech_edit.setText(str(speech_subset(shared_data, tmp_path / "speech", every=100)))
    audio.train.noise_edit.setText(str(shared_data / "noise"))
    audio.train.epochs.setValue(1)
    audio.train.batch.setValue(8)
    seen = []
    window.bridge.started.connect(lambda _run: seen.append((setup.origin_line.text(), setup.inputs[1].isEnabled(),
                                                            training.previews["original"].title.text())))
    qtbot.mouseClick(audio.train.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: training.state in ("finished", "stopped", "error"), timeout=3 * LONG_S)
    (origin, form_enabled, preview_title), = seen
    assert origin.startswith("Training audio-dae → ") and "the image settings below are not what trains" in origin
    assert form_enabled and preview_title == "Noisy input (spectrogram)"
    assert "audio-dae" not in setup.origin_line.text()  # over


def test_headline_drops_long_causes_and_keeps_what_to_do():
    from gui.message_line import headline
    assert headline(MNIST_OFFLINE) == ("could not download mnist; with no internet, put the MNIST files in /data/MNIST "
                                       "(torchvision's layout) and try again")
    cause = "(" + "x (y) " * 20 + ")"
    assert headline(f"a.pt: bad {cause}; try b (short)") == "a.pt: bad; try b (short)"


def pick(qtbot, combo, index: int) -> None:
    """Choose entry ``index`` of ``combo`` as a user does: open its list and click the entry."""
    combo.showPopup()
    view = combo.view()
    qtbot.waitUntil(view.isVisible, timeout=5_000)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(view.model().index(index, 0)).center())


def test_the_data_sets_open_entries_and_the_base_choose_button_use_the_chosen_paths(window, qtbot, tmp_path,
                                                                                     vae_checkpoint, monkeypatch):
    from PIL import Image
    from gui.setup_panel import OPEN_FILE, OPEN_FOLDER
    setup = window.panels["setup"]
    combo = setup.data_combo
    rng = np.random.default_rng(0)
    npz = tmp_path / "blobs.npz"
    np.savez(npz, images=(rng.random((40, 12, 12)) * 255).astype(np.uint8))
    folder = tmp_path / "pictures"
    for label in ("cats", "dogs"):
        (folder / label).mkdir(parents=True)
        for k in range(3):
            Image.fromarray((rng.random((10, 10)) * 255).astype(np.uint8)).save(folder / label / f"{k}.png")
    answer = {}
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (answer["path"], "")))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: answer["path"]))

    answer["path"] = str(npz)
    pick(qtbot, combo, combo.findData(OPEN_FILE))
    qtbot.waitUntil(lambda: window.context.data.image_shape == (1, 12, 12), timeout=LONG_S)
    assert combo.currentText() == "blobs.npz"
    answer["path"] = str(folder)
    pick(qtbot, combo, combo.findData(OPEN_FOLDER))
    qtbot.waitUntil(lambda: window.context.data_source == str(folder), timeout=LONG_S)
    assert len(window.context.data) == 6 and combo.currentText() == "pictures"
    answer["path"] = ""  # cancelled: the data set stays, and so does the choice shown
    pick(qtbot, combo, combo.findData(OPEN_FILE))
    assert window.context.data_source == str(folder) and combo.currentText() == "pictures"

    choose_family(setup, "latent-diffusion")
    answer["path"] = str(vae_checkpoint)
    qtbot.mouseClick(setup.base_button, Qt.MouseButton.LeftButton)
    assert setup.base_edit.text() == str(vae_checkpoint) and setup.session.base == str(vae_checkpoint)


# --- issue 22: typed values kept and checked, a form that does not jump, a settings file read back -------------
def type_into(qtbot, spin, text: str) -> None:
    """Type ``text`` over a spin box's value as a user does, then leave the field (Tab)."""
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, text)
    qtbot.keyClick(spin, Qt.Key.Key_Tab)


def test_a_decimal_typed_into_a_familys_field_is_kept_whole(window, qtbot):
    """Each keystroke refreshes the form; setting the field's step again made Qt reformat the half-typed text
    ('0' became '0.000', so '0.5' ended as 0)."""
    setup = window.panels["setup"]
    choose_family(setup, "diffusion")
    eta = setup.family_fields("diffusion")["eta"].widget
    type_into(qtbot, eta, "0.5")
    assert eta.value() == 0.5 and setup.session.value("eta") == 0.5
    gamma = setup.family_fields("diffusion")["snr_gamma"].widget
    type_into(qtbot, gamma, "2.5")
    assert gamma.value() == 2.5 and setup.read_form()[1]["snr_gamma"] == 2.5


@pytest.mark.parametrize("name", sorted(n for n, f in FAMILIES.items() if f.capabilities.modality == "image"))
def test_every_familys_defaults_show_exactly_and_valid(window, name):
    """A flow's pixel margin of 1e-4 showed as 0.000: Qt rounded it to the field's 3 decimals, out of range, so a
    user who picked the flow could not start it."""
    setup = window.panels["setup"]
    choose_family(setup, name)
    fields = setup.family_fields(name)
    for setting, field in fields.items():
        if not isinstance(field.raw(), str):  # (a number, a box: as the form holds it; text is parsed)
            assert field.raw() == setup.session.value(setting), setting
        assert getattr(field.widget, "problem", str)() == "", setting
    assert not set(setup.session.problems()) & {"model", *fields}


def test_a_typed_value_out_of_range_is_kept_and_named_and_start_stays_off(window, qtbot):
    setup, training = window.panels["setup"], window.panels["training"]
    type_into(qtbot, setup.batch_spin, "0")
    assert setup.batch_spin.text() == "0" and setup.batch_spin.value() == 0  # not put back silently
    assert marked(setup.batch_spin).startswith("Batch size")
    assert not training.start_button.isEnabled() and "Batch size" in training.start_button.toolTip()
    assert "Batch size" in setup.message.text()
    qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)
    assert window.bridge.worker is None and training.state == "idle"
    latent = setup.family_fields("vae")["latent_dim"].widget  # a family's field: the same
    type_into(qtbot, latent, "0")
    assert latent.value() == 0 and marked(latent).startswith("Latent size")
    type_into(qtbot, latent, "8")
    type_into(qtbot, setup.batch_spin, "9999")  # more than the data set: allowed, with a note
    assert not marked(setup.batch_spin) and not marked(latent) and training.start_button.isEnabled()
    assert "a batch of 9,999 is larger than the 1,617 training images" in setup.start_info.text()
    type_into(qtbot, setup.batch_spin, "64")
    assert "larger than" not in setup.start_info.text()
    qtbot.keyClick(setup.epochs_spin, Qt.Key.Key_Down)  # the arrows stay within the limits
    setup.epochs_spin.setValue(1)
    qtbot.keyClick(setup.epochs_spin, Qt.Key.Key_Down)
    assert setup.epochs_spin.value() == 1 and not marked(setup.epochs_spin)


def field_tops(setup) -> dict:
    """Where each input of the form is, in the panel's coordinates."""
    widgets = [setup.data_combo, setup.family_combo, setup.lr_edit, setup.batch_spin, setup.epochs_spin,
               setup.device_combo, *(f.widget for f in setup.family_fields(setup.session.family).values())]
    return {id(w): w.mapTo(setup, w.rect().topLeft()).y() for w in widgets}


def test_messages_never_move_the_fields(window, qtbot, vae_checkpoint):
    setup = window.panels["setup"]
    window.open_checkpoint(vae_checkpoint)  # the header says where the settings came from
    qtbot.waitUntil(lambda: window.context.model is not None and setup.origin_line.text() != "", timeout=LONG_S)
    qtbot.wait(50)
    before = field_tops(setup)
    hidden = setup.family_fields("vae")["hidden"].widget
    retype(qtbot, hidden, "abc")  # an error, and the header grows "changed here since…"
    type_into(qtbot, setup.batch_spin, "0")
    retype(qtbot, setup.lr_edit, "fast")
    qtbot.wait(50)
    assert "changed here since" in setup.origin_line.text() and setup.message.isVisible()
    assert field_tops(setup) == before
    retype(qtbot, hidden, "16")
    type_into(qtbot, setup.batch_spin, "128")
    retype(qtbot, setup.lr_edit, "2e-3")
    qtbot.wait(50)
    assert not setup.message.isVisible() and field_tops(setup) == before


def test_the_settings_the_app_saves_are_read_back_without_a_note(qtbot):
    from gui.main_window import MainWindow
    from gui.settings import app_settings, check_settings
    first = MainWindow()
    qtbot.addWidget(first)
    first.close()  # saves the form: its learning rate follows the family (lr = null)
    assert app_settings().contains("setup/common") and check_settings(app_settings()) == ""
    second = MainWindow()
    qtbot.addWidget(second)
    assert second.status_line.text() == ""


def test_a_long_status_message_is_never_cut_at_the_edge(window, qtbot):
    long = "Ignored 3 bad setting(s) in /home/someone/.config/latent-explorer/Latent Explorer.ini: " + \
        "; ".join(f"setting_{i} = {i} (not a whole number from 1 to 1,048,576)" for i in range(12))
    window.context.status.emit(long)
    line = window.status_line
    qtbot.waitUntil(line.isVisible)
    metrics = line.label.fontMetrics()
    assert all(metrics.horizontalAdvance(text) <= line.label.width() for text in line.label.text().split("\n"))
    assert line.label.text().endswith("…") and line.details_button.isVisible() and line.text() == long
    right = line.details_button.mapTo(window, line.details_button.rect().topRight()).x()
    assert right <= window.device_label.mapTo(window, window.device_label.rect().topLeft()).x()


def test_a_typed_process_count_out_of_range_is_named_and_start_stays_off(window, qtbot):
    training = window.panels["training"]
    qtbot.mouseClick(training.own_process_box, Qt.MouseButton.LeftButton)
    assert training.own_process_box.isChecked()
    type_into(qtbot, training.processes_spin, "0")
    assert training.processes_spin.text() == "× 0" and marked(training.processes_spin).startswith("Processes")
    assert not training.start_button.isEnabled() and "Processes" in training.note.text()
    type_into(qtbot, training.processes_spin, "1")
    assert training.start_button.isEnabled() and not marked(training.processes_spin)


def test_why_start_failed_goes_once_the_form_changes(window, qtbot, tmp_path):
    setup, training = window.panels["setup"], window.panels["training"]
    choose_family(setup, "latent-diffusion")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    setup.set_base_path(tmp_path / "bad.pt")
    qtbot.mouseClick(training.start_button, Qt.MouseButton.LeftButton)  # only reading the base tells
    qtbot.waitUntil(lambda: training.note.text().startswith("Not started"), timeout=LONG_S)
    choose_family(setup, "vae")
    assert training.note.text() == "" and not setup.message.isVisible()


def test_the_up_arrow_stops_at_a_value_the_field_can_show(qtbot):
    """EMA decay's high limit 0.99999: the arrow stops there instead of rounding up to 1, out of range (the
    click-through found Start switched off by a valid field's arrow); a limit finer than the field can show
    (1e-9) stops the arrow at the last value it can."""
    from gui.number_field import DecimalField
    field = DecimalField(0.0, 0.99999, "EMA decay")
    qtbot.addWidget(field)
    field.setValue(0.999)
    field.setSingleStep(0.01)
    qtbot.keyClick(field, Qt.Key.Key_Up)
    assert field.value() == pytest.approx(0.99999) and field.problem() == "" and field.text() == "0.99999"
    fine = DecimalField(0.0, 1 - 1e-9, "Fine")
    qtbot.addWidget(fine)
    fine.setValue(0.99)
    fine.setSingleStep(0.1)
    qtbot.keyClick(fine, Qt.Key.Key_Up)
    assert fine.value() == pytest.approx(0.99999999) and fine.problem() == ""
    field.setValue(0.5)
    qtbot.keyClick(field, Qt.Key.Key_Up)
    assert field.value() == pytest.approx(0.51) and field.problem() == ""
