"""The comparison engine (Fréchet distance, precision/recall, label entropy, NLL, timing) and ``main.py sample``."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from core.image.compare import (Comparer, classifier_path, frechet_distance, label_entropy, precision_recall,
                          training_time)
from core.train.checkpoint import save_checkpoint
from main import main
from models import build_model, family
from zoo_helpers import train_tiny


@pytest.fixture(scope="module")
def zoo(digits, tmp_path_factory):
    """Tiny checkpoints on digits: a VAE, a GAN, a flow, a diffusion model and a plain autoencoder."""
    root = tmp_path_factory.mktemp("zoo")
    epochs = {"vae": 4, "gan": 4, "flow": 2, "diffusion": 2, "ae": 1}
    return {name: train_tiny(name, digits, root / name, epochs=n)[1] for name, n in epochs.items()}


# --- statistics ------------------------------------------------------------------------------
def test_frechet_distance_of_gaussians():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 5)) @ rng.standard_normal((5, 5))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([3.0, 0, 0, 4.0, 0])
    assert frechet_distance(a, a + shift) == pytest.approx(25.0, rel=1e-6)  # same covariance: |mu_a - mu_b|^2
    # N(0, I) vs N(0, 4 I) in 5-D: tr(I + 4I - 2 * 2I) = 5
    b, c = rng.standard_normal((20000, 5)), 2 * rng.standard_normal((20000, 5))
    assert frechet_distance(b, c) == pytest.approx(5.0, rel=0.05)
    assert frechet_distance(b, np.zeros((100, 5))) == pytest.approx(5.0, rel=0.05)  # a singular covariance


def test_precision_recall_and_label_entropy_tell_collapse_from_coverage():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((300, 4))
    assert precision_recall(real, real.copy()) == (1.0, 1.0)
    collapsed = real[:5].repeat(60, axis=0)  # every sample is one of five real points
    precision, recall = precision_recall(real, collapsed)
    assert precision == 1.0 and recall < 0.2
    assert label_entropy(np.arange(1000) % 10, 10) == pytest.approx(1.0)
    assert label_entropy(np.zeros(1000, dtype=int), 10) == 0.0
    assert 0 < label_entropy(np.r_[np.zeros(900, int), np.arange(100) % 10], 10) < 0.5


def test_training_time_ignores_pauses_between_logged_rows():
    rows = [{"split": "train", "step": s, "time": 100.0 + 0.5 * s} for s in (10, 20, 30)]
    rows += [{"split": "val", "step": 30, "time": 500.0}, {"split": "train", "step": 40, "time": 900.0},
             {"split": "train", "step": 50, "time": 905.0}]
    assert training_time(rows) == pytest.approx(0.5 * 50)
    assert training_time(rows[:1]) is None


# --- the comparison --------------------------------------------------------------------------
def test_comparison_table_on_digits(digits, zoo, cache_dir):
    messages = []
    comparer = Comparer(digits, "digits", samples_per_model=200, progress=lambda m, f: messages.append(m))
    assert comparer.classifier.accuracy > 0.9 and classifier_path(digits).is_file()
    assert any("feature classifier" in m for m in messages)
    table = comparer.compare([zoo[k] for k in ("vae", "gan", "flow", "diffusion", "ae")], ddim_steps=5)
    reports = {r.family: r for r in table.reports}
    assert list(reports) == ["vae", "gan", "flow", "diffusion", "ae"]
    for name in ("vae", "gan", "flow", "diffusion"):
        r = reports[name]
        assert not r.problem and r.frechet > table.baseline.frechet, name
        assert 0 <= r.precision <= 1 and 0 <= r.recall <= 1 and 1 <= r.classes_covered <= 10
        assert r.ms_per_image > 0 and r.train_time_s > 0 and r.samples.shape == (8, 1, 8, 8)
    assert reports["flow"].nll_kind == "exact" and 0 < reports["flow"].bits_per_dim < 8
    assert reports["vae"].nll_kind == "bound" and reports["vae"].bits_per_dim > 0
    assert reports["gan"].bits_per_dim is None and reports["diffusion"].bits_per_dim is None
    assert "no prior" in reports["ae"].problem and reports["ae"].frechet is None
    assert table.baseline.frechet < 2 and table.baseline.classes_covered == 10

    again = Comparer(digits, "digits", samples_per_model=50)  # the classifier comes from the cache
    assert again.classifier.accuracy == comparer.classifier.accuracy
    elsewhere = again.compare([zoo["vae"]])  # a model of another data set is reported, not scored
    other = Comparer(digits, "mnist", samples_per_model=50).compare([zoo["vae"]])
    assert not elsewhere.reports[0].problem and "trained on digits, not mnist" in other.reports[0].problem


def test_comparison_needs_labels(cache_dir):
    from core.image.data import ImageData
    from core.errors import LatentExplorerError
    data = ImageData("blobs", torch.randint(0, 255, (40, 1, 8, 8), dtype=torch.uint8))
    with pytest.raises(LatentExplorerError, match="no labels"):
        Comparer(data)


# --- main.py sample --------------------------------------------------------------------------
def test_sample_command_writes_npz_and_png(zoo, tmp_path, capsys):
    out = tmp_path / "s.npz"
    assert main(["sample", "--model", str(zoo["diffusion"]), "--n", "12", "--out", str(out), "--steps", "4"]) == 0
    images = np.load(out)["images"]
    assert images.shape == (12, 8, 8) and images.dtype == np.uint8 and images.max() > 0
    assert "wrote 12 samples" in capsys.readouterr().err
    png = tmp_path / "grid.png"
    assert main(["sample", "--model", str(zoo["gan"]), "--n", "10", "--out", str(png)]) == 0
    with Image.open(png) as im:
        assert im.size == ((4 * 9 + 1) * 4, (3 * 9 + 1) * 4)  # 4 x 3 tiles of 8 + 1 pixels, enlarged 4x
    again = tmp_path / "again.npz"
    main(["sample", "--model", str(zoo["gan"]), "--n", "10", "--out", str(again), "--seed", "0"])
    main(["sample", "--model", str(zoo["gan"]), "--n", "10", "--out", str(out), "--seed", "0"])
    np.testing.assert_array_equal(np.load(out)["images"], np.load(again)["images"])


def test_sample_command_colour_images_are_channels_last(tmp_path):
    model = build_model("flow", {"image_shape": [3, 8, 8], "levels": 1, "steps": 1, "hidden": 8})
    model.name = "flow"
    path = save_checkpoint(tmp_path / "c.pt", model)
    out = tmp_path / "c.npz"
    assert main(["sample", "--model", str(path), "--n", "5", "--out", str(out)]) == 0
    assert np.load(out)["images"].shape == (5, 8, 8, 3)


def test_sample_command_errors_are_one_line(zoo, tmp_path, capsys):
    cases = [(["--model", str(zoo["ae"]), "--out", str(tmp_path / "a.npz")], "no prior to sample from"),
             (["--model", str(zoo["gan"]), "--out", str(tmp_path / "a.jpg")], "an .npz or a .png"),
             (["--model", str(zoo["gan"]), "--out", str(tmp_path / "a.npz"), "--steps", "5"], "for diffusion"),
             (["--model", str(tmp_path / "none.pt"), "--out", str(tmp_path / "a.npz")], "no such checkpoint")]
    for args, message in cases:
        assert main(["sample", *args]) == 1
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    with pytest.raises(SystemExit) as exited:  # a number out of range is a usage error, said before any work
        main(["sample", "--model", str(zoo["gan"]), "--out", str(tmp_path / "a.npz"), "--n", "0"])
    err = capsys.readouterr().err.strip()
    assert exited.value.code == 2 and "--n: must be a whole number from 1" in err and len(err.splitlines()) == 1, err


def test_an_audio_checkpoint_is_reported_not_scored(digits, cache_dir, tmp_path):
    denoiser = save_checkpoint(tmp_path / "denoiser" / "checkpoint.pt",
                               build_model("audio-dae", dict(family("audio-dae").tiny)))
    report = Comparer(digits, "digits", samples_per_model=50).compare([denoiser]).reports[0]
    assert report.problem == "an audio model: the comparison scores image models" and report.frechet is None
