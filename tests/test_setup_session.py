"""The Setup panel's headless session: the form's state and checks, following the workspace's model, and
the run Start builds (new, or the loaded run continued)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.audio.trainer import AudioRun
from core.errors import LatentExplorerError
from core.image.data import load_dataset
from core.image.trainer import Run, Trainer
from core.runs.recipe import image_config
from core.sessions import Workspace
from core.sessions.setup import CONTINUE, DATASETS, NEW, SetupSession, data_key
from core.train.checkpoint import load_checkpoint
from core.train.folder import RunFolder
from core.train.loop import TrainConfig
from core.train.metrics import MetricsLog
from models import family


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory, digits) -> Path:
    """A tiny VAE trained for its one epoch on digits."""
    out = tmp_path_factory.mktemp("vae")
    train_idx, _ = digits.split()
    config = image_config("vae", digits, train_idx, latent_dim=3, hidden=[16])
    Trainer(Run("vae", config, digits, "digits", TrainConfig(epochs=1, batch_size=128), out)).train()
    return out / "checkpoint.pt"


@pytest.fixture
def session(digits) -> SetupSession:
    workspace = Workspace()
    workspace.set_data(digits, "digits")
    return SetupSession(workspace)


def open_checkpoint(session: SetupSession, path: Path, followed: bool = False) -> None:
    """What the main window does once a checkpoint is read."""
    model, payload = load_checkpoint(path)
    session.workspace.set_model(model, path, train_state=payload["train_state"], followed=followed)


def test_learning_rate_follows_the_family_until_typed_and_values_are_kept_per_family(session):
    assert session.family == "vae" and float(session.lr_text) == family("vae").lr
    session.set_value("latent_dim", 7)
    session.set_family("gan")
    assert float(session.lr_text) == family("gan").lr == 5e-4
    assert session.value("latent_dim") == family("gan").settings({"image_shape": [1, 8, 8]}).latent_dim
    session.set_family("vae")
    assert session.value("latent_dim") == 7  # remembered for the family
    assert session.lr == family("vae").lr  # a number, the family's until typed
    session.set_lr("3e-4")
    session.set_family("flow")
    assert session.lr_text == "3e-4" and session.lr == 3e-4 and session.train_config().lr == 3e-4
    session.set_lr("fast")
    assert session.lr is None and session.lr_text == "fast"


def test_every_problem_is_reported_at_once_by_field(digits):
    session = SetupSession(Workspace())  # no data yet
    session.set_value("hidden", "abc")
    session.set_value("latent_dim", 0)
    session.set_lr("fast")
    session.set_batch_size(0)
    problems = session.problems()
    assert problems == {
        "data": "No data set is loaded yet",
        "hidden": "Hidden sizes must be a number, got 'abc'",
        "latent_dim": "Latent size must be at least 1, got 0",
        "lr": "Learning rate: 'fast' is not a number (e.g. 1e-3)",
        "batch_size": "Batch size must be a whole number from 1 to 1,048,576, got 0"}
    with pytest.raises(LatentExplorerError, match="Hidden sizes must be a number"):
        session.start(lambda *_: Path("unused"))
    session.set_lr("50")
    assert session.problems()["lr"].startswith("Learning rate must be a number from 1e-12 to 10")
    session.set_device("cuda:7")
    assert "Device: device 'cuda:7' is not available" in session.problems()["device"]


def test_settings_that_fail_together_and_the_base_of_latent_diffusion(session, tmp_path, vae_run):
    odd = np.random.default_rng(0).integers(0, 255, (20, 9, 9), dtype=np.uint8)
    np.savez(tmp_path / "odd.npz", images=odd)
    session.workspace.set_data(load_dataset(str(tmp_path / "odd.npz")), str(tmp_path / "odd.npz"))
    session.set_family("flow")
    assert "even image sides" in session.problems()["model"]
    session.set_family("latent-diffusion")
    assert "choose its checkpoint as the Base model" in session.problems()["base"]
    session.set_base(tmp_path / "gone.pt")
    assert session.problems()["base"] == f"{tmp_path / 'gone.pt'}: no such checkpoint file"
    fresh = SetupSession(Workspace())
    open_checkpoint(fresh, vae_run)
    assert fresh.base == str(vae_run)  # follows the workspace's VAE until one is chosen


def test_a_loaded_checkpoint_shows_its_family_settings_and_where_they_came_from(session, vae_run):
    session.set_family("gan")
    changes = []
    session.listen(changes.append)
    open_checkpoint(session, vae_run)
    assert "origin" in changes
    assert session.family == "vae" and session.value("latent_dim") == 3 and session.model_values()["hidden"] == (16,)
    assert session.describe_origin() == f"vae, trained 1 of 1 epochs on digits: the settings of {vae_run}"
    assert not session.edited and session.batch_size == 128
    assert session.plans() == {NEW: "", CONTINUE: "it has trained 1 epochs: set Epochs above 1 to continue it"}
    assert session.plan_now == NEW and not session.problems()  # finished: a new run with these settings
    session.set_plan(CONTINUE)
    assert session.problems() == {"epochs": "Cannot continue: it has trained 1 epochs: set Epochs above 1 to "
                                            "continue it"}
    session.set_epochs(2)
    assert not session.problems() and session.describe_start() == (
        "Continue vae from epoch 1 to 2, in its folder, on digits")
    run = session.start(lambda *_: pytest.fail("continuing needs no new folder")).run_here()
    assert run.resume is not None and run.out_dir == vae_run.parent and run.config.epochs == 2
    assert run.model_config == load_checkpoint(vae_run)[0].config

    session.set_value("latent_dim", 5)  # changed: only a new run can have it
    assert session.edited and session.plan_now == NEW and "changed here since" in session.describe_origin()
    folders = []
    run = session.start(lambda name, source: folders.append((name, source)) or Path("new-run")).run_here()
    assert folders == [("vae", "digits")] and run.resume is None and run.model_config["latent_dim"] == 5
    session.run_started(run)
    assert session.running.from_form and session.form_is_training


def test_a_followed_run_cannot_be_continued_while_its_writer_goes_on_and_keeps_edits(session, vae_run, tmp_path):
    folder = tmp_path / "followed"
    folder.mkdir()
    (folder / "checkpoint.pt").write_bytes(vae_run.read_bytes())
    with RunFolder(folder).claim(fresh=False):  # another process still trains it
        MetricsLog(folder / "metrics.jsonl").close()
        session.following(folder)
        assert session.running.describe() == f"Following {folder}: another process trains it"
        open_checkpoint(session, folder / "checkpoint.pt", followed=True)
        assert session.origin.kind == "followed" and session.describe_origin() == (
            f"vae, 1 of 1 epochs on digits: the settings of the followed run {folder}")  # its last epoch
        session.set_epochs(5)
        session.set_plan(CONTINUE)
        assert session.plans()[CONTINUE] == "another process is still training it"
        assert session.plan_now == NEW and not session.problems()
        session.set_value("latent_dim", 6)
        open_checkpoint(session, folder / "checkpoint.pt", followed=True)  # its next checkpoint
        assert session.value("latent_dim") == 6  # the user's change stays
    session.run_ended()
    session.set_value("latent_dim", 3)
    assert not session.edited and session.plan_now == CONTINUE and not session.problems()


def test_an_audio_run_is_not_presented_as_the_image_form(session, tmp_path):
    run = AudioRun("audio-dae", {}, tmp_path, None, out_dir=tmp_path / "denoiser")
    session.run_started(run)
    assert not session.form_is_training and session.family == "vae"
    assert session.running.describe() == (f"Training audio-dae → {tmp_path / 'denoiser'}: an audio model (Audio "
                                          "panel); the image settings below are not what trains")


def test_data_choices_name_each_data_set_once(session, shared_data, tmp_path):
    assert session.load_data("digits") is None  # already open
    faces = str(shared_data / "olivetti" / "olivettifaces.mat")
    session.workspace.set_data(load_dataset(faces), faces)  # as the Faces demo does
    assert data_key(faces) == "olivetti" and session.data_choice == "olivetti"
    assert [k for k, _ in session.data_choices()] == list(DATASETS)  # no second Olivetti
    assert session.load_data("olivetti") is None
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"nope")
    work = session.load_data(str(bad))
    assert session.loading == str(bad) and session.data_choice == str(bad)
    with pytest.raises(LatentExplorerError) as failed:
        work.run_here()
    session.data_failed(str(bad), str(failed.value))
    assert session.data_problem.startswith(str(bad)) and session.data_choice == "olivetti"
    good = tmp_path / "blobs.npz"
    np.savez(good, images=np.zeros((10, 6, 6), np.uint8))
    assert session.load_data(str(good)).run_here().image_shape == (1, 6, 6)
    assert session.data_choices()[-1] == (str(good), "blobs.npz") and session.data_choice == str(good)


def test_remembered_choices_come_back(session):
    session.set_family("dae")
    session.set_value("noise_std", 0.35)
    session.set_epochs(7)
    session.set_lr("1e-3")
    session.set_lr_schedule("cosine")
    remembered = session.remembered()
    again = SetupSession(Workspace())
    again.restore(remembered["families"], {**remembered["common"], "device": "tpu"})
    assert again.family == "dae" and again.value("noise_std") == 0.35 and again.epochs == 7
    assert again.lr_text == "1e-3" and again.lr_source == "typed" and again.device == "auto"
    assert again.lr_schedule == "cosine" and again.train_config().lr_schedule == "cosine"
