"""Engine tests for the embedding map: batched encoding with progress and cancel, the code cache,
projections (PCA, UMAP and t-SNE in the worker process, cancel), class separation on the default
digits VAE, nearest neighbours, the VAE's uncertainty, selections, exports and the ``embed`` command."""
from __future__ import annotations

import csv
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

import main
from core.errors import Cancelled, LatentExplorerError
from core.image import embedding, projection
from core.image.embedding import compute_map, knn_accuracy
from core.image.export import write_coordinates_csv, write_projector
from core.image.trainer import Run, Trainer
from core.runs.quicktrain import train_briefly
from core.runs.recipe import image_config
from core.train.loop import TrainConfig
from models import build_model


@pytest.fixture(scope="module")
def digits_vae(digits):
    """The default VAE (MLP, 16-d latent) trained on the 8x8 digits with the default 30 epochs."""
    return train_briefly(digits, "digits", "vae", seconds=30, config=TrainConfig(epochs=30, device="cpu"))


@pytest.fixture(scope="module")
def digits_maps(digits_vae, digits, tmp_path_factory):
    """PCA and UMAP maps of the VAE's codes, the app's way (UMAP in the worker process)."""
    cache = tmp_path_factory.mktemp("cache")
    t0 = time.perf_counter()
    umap = compute_map(digits_vae, digits, "umap", cache_dir=cache)
    umap_s = time.perf_counter() - t0
    return {"pca": compute_map(digits_vae, digits, "pca", cache_dir=cache), "umap": umap, "umap_s": umap_s}


def untrained(data, name="vae", **overrides):
    torch.manual_seed(0)
    return build_model(name, image_config(name, data, np.arange(len(data)), **overrides)).eval()


# --- encoding and the cache -------------------------------------------------------------------
def test_encode_dataset_gives_the_vae_mean_in_batches_with_progress(digits):
    model = untrained(digits)
    reports = []
    codes = embedding.encode_dataset(model, digits, batch_size=500, progress=lambda f, t: reports.append((f, t)))
    assert codes.shape == (len(digits), model.latent_dim) and codes.dtype == np.float32
    with torch.no_grad():
        mean = model.posterior(digits.float_images())[0].numpy()
    np.testing.assert_allclose(codes, mean, atol=1e-5)
    fractions = [f for f, _ in reports]
    assert len(reports) == 4 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert "1,797 of 1,797" in reports[-1][1]


def test_encode_dataset_stops_when_cancelled_and_refuses_wrong_shapes(digits):
    model = untrained(digits)
    cancel = threading.Event()
    seen = []

    def progress(fraction, _text):
        seen.append(fraction)
        cancel.set()

    with pytest.raises(Cancelled):
        embedding.encode_dataset(model, digits, batch_size=100, progress=progress, cancel=cancel)
    assert len(seen) == 1  # stopped at the next batch
    other = build_model("vae", {"image_shape": [1, 28, 28], "mean": [0.5], "std": [0.3]})
    with pytest.raises(LatentExplorerError, match="images shaped"):
        embedding.encode_dataset(other, digits)


def test_codes_are_cached_by_model_weights_and_images(digits, tmp_path, monkeypatch):
    model = untrained(digits)
    calls = []
    real = embedding.encode_dataset
    monkeypatch.setattr(embedding, "encode_dataset", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    first = embedding.cached_codes(model, digits, tmp_path)
    again = embedding.cached_codes(model, digits, tmp_path)
    assert len(calls) == 1
    np.testing.assert_array_equal(first, again)
    with torch.no_grad():
        for p in model.parameters():  # other weights (the averaged copies that encode too): another key
            p.add_(0.1)
    changed = embedding.cached_codes(model, digits, tmp_path)
    assert len(calls) == 2 and not np.allclose(changed, first)
    assert len(list((tmp_path / "codes").glob("*.npy"))) == 2
    for f in (tmp_path / "codes").glob("*.npy"):
        f.write_bytes(b"corrupt")  # a damaged cache file is a miss, not an error
    np.testing.assert_array_equal(embedding.cached_codes(model, digits, tmp_path), changed)
    assert len(calls) == 3


def test_pixel_space_map_without_a_model(digits):
    result = compute_map(None, digits, "pca")
    assert result.space == "pixels" and result.codes.shape == (len(digits), projection.INPUT_DIM)
    assert result.coords.shape == (len(digits), 2) and np.isfinite(result.coords).all()


# --- projections ------------------------------------------------------------------------------
def test_projection_rejects_bad_codes():
    with pytest.raises(LatentExplorerError, match="NaN"):
        projection.project(np.full((20, 4), np.nan), "pca")
    with pytest.raises(LatentExplorerError, match="unknown projection"):
        projection.project(np.zeros((20, 4)), "isomap")
    with pytest.raises(LatentExplorerError, match="at least 5"):
        projection.project(np.zeros((3, 4)), "umap")
    with pytest.raises(LatentExplorerError, match=r"\(N, D\)"):
        projection.project(np.zeros(10), "pca")
    assert projection.project(np.ones((1, 3)), "pca").shape == (1, 2)


def test_default_digits_vae_map_separates_classes(digits_maps, digits, capsys):
    train_idx, val_idx = digits.split()  # the VAE's own held-out items
    scores = {m: knn_accuracy(digits_maps[m].coords, digits.labels, train_idx, val_idx) for m in ("pca", "umap")}
    with capsys.disabled():
        print(f"\n5-NN accuracy on held-out digits: PCA {scores['pca']:.3f}, UMAP {scores['umap']:.3f} "
              f"(UMAP took {digits_maps['umap_s']:.1f} s)")
    assert scores["umap"] >= 0.8
    assert scores["umap"] >= scores["pca"] + 0.2


def test_umap_keeps_numbas_compiled_code_between_runs(digits_maps):
    cached = {p.name.split("-")[0] for p in projection.numba_cache_dir().rglob("*.nbi")}
    # umap-learn's layout optimiser is compiled without cache=True upstream: ours must be on disk
    assert "layouts._optimize_layout_euclidean_single_epoch" in cached
    assert "umap_.smooth_knn_dist" in cached


def test_maps_are_cached(digits_vae, digits, tmp_path, monkeypatch):
    first = compute_map(digits_vae, digits, "pca", cache_dir=tmp_path)
    monkeypatch.setattr(embedding, "project", lambda *a, **kw: pytest.fail("projected again"))
    np.testing.assert_array_equal(compute_map(digits_vae, digits, "pca", cache_dir=tmp_path).coords, first.coords)


TSNE_ITEMS = 600  # the first digits (t-SNE's cost grows with the square of the count)


@pytest.mark.guards("tsne-separates")
def test_tsne_runs_in_the_worker_and_separates_the_classes(digits_maps, digits, capsys):
    codes = digits_maps["umap"].codes[:TSNE_ITEMS]
    coords = projection.project(codes, "tsne", seed=0)
    assert coords.shape == (TSNE_ITEMS, 2) and np.isfinite(coords).all() and coords.std() > 0
    train_idx, val_idx = (idx[idx < TSNE_ITEMS] for idx in digits.split())  # the VAE's own held-out items
    score = knn_accuracy(coords, digits.labels[:TSNE_ITEMS], train_idx, val_idx)
    with capsys.disabled():
        print(f"\n5-NN accuracy of the t-SNE map on held-out digits: {score:.3f}")
    assert score >= 0.8


def test_cancel_ends_the_projection_process_at_once(digits_maps):
    cancel = threading.Event()
    stages = []
    timer = threading.Timer(1.0, cancel.set)
    timer.start()
    t0 = time.perf_counter()
    with pytest.raises(Cancelled):
        projection.project(digits_maps["umap"].codes, "umap", cancel=cancel, progress=lambda f, t: stages.append(t))
    assert time.perf_counter() - t0 < 1.0 + 3.0
    assert projection._worker is None  # the process was ended; the next call starts a fresh one
    assert stages


# --- one item ---------------------------------------------------------------------------------
def test_nearest_neighbours_leave_the_item_out_and_are_sorted():
    codes = np.array([[0.0], [0.5], [3.0], [-0.2], [10.0]], np.float32)
    idx, dist = embedding.nearest_neighbours(codes, 0, 3)
    assert idx.tolist() == [3, 1, 2]
    np.testing.assert_allclose(dist, [0.2, 0.5, 3.0], rtol=1e-6)
    assert embedding.nearest_neighbours(codes[:1], 0, 3)[0].size == 0


def test_inspect_item_on_a_vae_and_in_pixel_space(digits_vae, digits, digits_maps):
    view = embedding.inspect_item(digits_vae, digits, digits_maps["umap"], 42, k=8)
    assert view.original.shape == (1, 8, 8) and view.reconstruction.shape == (1, 8, 8)
    assert view.code.shape == (digits_vae.latent_dim,) and len(view.neighbours) == 8 and 42 not in view.neighbours
    assert view.spread.shape == (8, 8) and (view.spread >= 0).all() and view.spread.max() > 0
    same = np.mean([np.mean(digits.labels[embedding.inspect_item(digits_vae, digits, digits_maps["umap"], i)
                                         .neighbours] == digits.labels[i]) for i in range(0, len(digits), 60)])
    assert same > 0.8
    pixels = embedding.inspect_item(digits_vae, digits, compute_map(None, digits, "pca"), 42)
    assert pixels.code is None and pixels.reconstruction is None and pixels.spread is None
    assert embedding.decode_spread(untrained(digits, "ae"), digits.images[:1]) is None


def test_points_in_polygon_even_odd_with_a_concave_outline():
    ell = np.array([[0, 0], [4, 0], [4, 1], [1, 1], [1, 4], [0, 4]], float)  # an L shape
    pts = np.array([[0.5, 0.5], [3.5, 0.5], [0.5, 3.5], [2, 2], [3.5, 3.5], [-1, 0.5], [5, 0.5]])
    assert embedding.points_in_polygon(pts, ell).tolist() == [True, True, True, False, False, False, False]
    assert not embedding.points_in_polygon(pts, ell[:2]).any()


# --- exports ----------------------------------------------------------------------------------
def test_exports_parse_back(digits, digits_maps, tmp_path):
    m = digits_maps["umap"]
    path = write_coordinates_csv(tmp_path / "map.csv", m.coords, digits)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["index", "x", "y", "label"] and len(rows) == len(digits)
    np.testing.assert_allclose([[float(r["x"]), float(r["y"])] for r in rows], m.coords, rtol=1e-5, atol=1e-5)
    assert [int(r["label"]) for r in rows] == digits.labels.tolist()

    files = write_projector(tmp_path / "projector", m.codes, digits, name='vae "codes"')
    tensors, metadata, sprite, config = files
    np.testing.assert_allclose(np.loadtxt(tensors, delimiter="\t"), m.codes, rtol=1e-5, atol=1e-6)
    lines = metadata.read_text().splitlines()
    assert lines[0] == "index\tlabel" and len(lines) == len(digits) + 1 and lines[7] == f"6\t{digits.labels[6]}"
    with Image.open(sprite) as im:
        assert im.size == (43 * 8, 43 * 8)  # a square of ceil(sqrt(1797)) = 43 cells of 8 px a side
        assert np.asarray(im.convert("L"))[:8, 8:16].tolist() == digits.images[1, 0].tolist()
    text = config.read_text()
    for needle in ('tensor_path: "tensors.tsv"', 'metadata_path: "metadata.tsv"', 'image_path: "sprite.png"',
                   "single_image_dim: 8", r'tensor_name: "vae \"codes\""'):
        assert needle in text
    with pytest.raises(LatentExplorerError, match="do not fit"):
        write_coordinates_csv(tmp_path / "bad.csv", m.coords[:10], digits)


# --- the command line -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint(digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    run = Run("vae", image_config("vae", digits, np.arange(len(digits))), digits, "digits",
              TrainConfig(epochs=1, device="cpu"), out)
    Trainer(run).train()
    return out / "checkpoint.pt"


def test_embed_command_writes_the_map_csv_and_projector_files(checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LATENT_EXPLORER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "map.csv"
    rc = main.main(["embed", "--model", str(checkpoint), "--method", "pca", "--out", str(out),
                    "--projector", str(tmp_path / "proj")])
    assert rc == 0
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["index", "x", "y", "label"] and len(rows) == 1798
    assert (tmp_path / "proj" / "projector_config.pbtxt").is_file()
    printed = capsys.readouterr().out
    assert "5-NN accuracy" in printed and "1,797 items" in printed
    assert list((tmp_path / "cache" / "codes").glob("*.npy"))


def test_embed_command_bad_input_is_one_clear_line(checkpoint, tmp_path, capsys):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    for argv, needle in ((["--model", str(tmp_path / "missing.pt")], "no such checkpoint"),
                         (["--model", str(broken)], "not a readable"),
                         (["--model", str(checkpoint), "--dataset", str(tmp_path / "nothing")], "unknown data set")):
        assert main.main(["embed", *argv, "--out", str(tmp_path / "x.csv")]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and needle in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.csv").exists()


# --- generated samples ------------------------------------------------------------------------
def test_generated_samples_give_n_prior_codes_and_images_reproducibly(digits):
    gan = untrained(digits, "gan")
    reports = []
    codes, images = embedding.generate_samples(gan, 300, seed=3, batch_size=128,
                                               progress=lambda f, t: reports.append(f))
    assert codes.shape == (300, gan.latent_dim) and codes.dtype == np.float32
    assert images.shape == (300, 1, 8, 8) and images.dtype == torch.uint8
    assert reports == pytest.approx([128 / 300, 256 / 300, 1.0])
    # the images are the generator's decodes of exactly these codes
    expected = gan.decode(torch.from_numpy(codes[:5])).detach().clamp(0, 1).mul(255).round().byte()
    assert torch.equal(images[:5], expected)
    again, again_images = embedding.generate_samples(gan, 300, seed=3)
    assert np.array_equal(codes, again) and torch.equal(images, again_images)
    other, _ = embedding.generate_samples(gan, 300, seed=4)
    assert not np.allclose(codes, other)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        embedding.generate_samples(gan, 300, cancel=cancel)


def test_generated_map_projects_the_z_codes_and_inspects_a_sample(digits):
    gan = untrained(digits, "gan")
    emb = embedding.compute_generated_map(gan, "pca", 200, seed=1)
    assert emb.space == "generated" and emb.coords.shape == (200, 2) and emb.images.shape == (200, 1, 8, 8)
    view = embedding.inspect_item(gan, digits, emb, 7, k=5)
    assert np.array_equal(view.original, emb.images[7].numpy()) and np.array_equal(view.code, emb.codes[7])
    assert view.reconstruction is None and len(view.neighbours) == 5 and 7 not in view.neighbours
    assert np.all(np.diff(view.distances) >= 0)
    with pytest.raises(LatentExplorerError, match="no prior"):
        embedding.generate_samples(untrained(digits, "ae"), 10)


def test_a_process_with_an_idle_projection_worker_exits_promptly():
    """The worker is ended at exit even when its SIGTERM lands on a thread other than its main one."""
    import subprocess
    import sys
    from pathlib import Path
    script = ("import numpy as np\nfrom core.image.projection import project\n"
              "if __name__ == '__main__':\n"
              "    print(project(np.random.default_rng(0).random((60, 4), dtype=np.float32), 'tsne').shape)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[1], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "(60, 2)" in done.stdout


# --- the command line with a slow encoder -----------------------------------------------------
@pytest.fixture(scope="module")
def gan_checkpoint(digits, tmp_path_factory):
    """A small GAN (a few inversion steps, so that encoding stays quick here) trained one epoch on 90 digits
    of an .npz file."""
    from core.image.data import ImageData
    out = tmp_path_factory.mktemp("gan")
    np.savez(out / "few.npz", images=digits.images[:90, 0].numpy(), labels=digits.labels[:90])
    few = ImageData("few", digits.images[:90], digits.labels[:90])
    config = image_config("gan", few, np.arange(90), latent_dim=8, channels=[8, 16], invert_steps=3)
    Trainer(Run("gan", config, few, str(out / "few.npz"), TrainConfig(epochs=1, device="cpu"), out)).train()
    return out / "checkpoint.pt"


def test_embed_warns_before_a_slow_encoder_starts_then_estimates_and_shows_the_time_left(gan_checkpoint, tmp_path,
                                                                                         capsys):
    out = tmp_path / "map.csv"
    assert main.main(["embed", "--model", str(gan_checkpoint), "--method", "pca", "--batch-size", "30",
                      "--out", str(out), "--no-cache"]) == 0
    err = capsys.readouterr().err
    warning, estimate = err.find("warning: gan models encode each image by a search"), err.find("estimated time")
    assert 0 <= warning < estimate and "--generated N" in err[warning:estimate]
    assert "encoding 90 images" not in err and "estimated time to encode 90 images: about " in err
    assert "encoding: 30 of 90 images, about " in err and " left" in err  # the time left, as it goes
    with open(out, newline="") as f:
        assert len(list(csv.reader(f))) == 91


def test_embed_generated_maps_n_samples_without_encoding(gan_checkpoint, tmp_path, capsys):
    out = tmp_path / "samples.csv"
    assert main.main(["embed", "--model", str(gan_checkpoint), "--generated", "150", "--method", "pca",
                      "--out", str(out), "--projector", str(tmp_path / "proj"), "--no-cache"]) == 0
    captured = capsys.readouterr()
    assert "150 generated samples" in captured.out and "warning" not in captured.err
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 150 and {r["label"] for r in rows} == {""}
    assert np.loadtxt(tmp_path / "proj" / "tensors.tsv", delimiter="\t").shape == (150, 8)
    assert main.main(["embed", "--model", str(gan_checkpoint), "--generated", "2", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "at least 5" in err and len(err.splitlines()) == 1
