"""Data sources: built-in digits, .npz arrays, the real Olivetti .mat and MNIST files, image folders,
torchvision sets offline, and the train/validation split."""
from __future__ import annotations

import urllib.error

import numpy as np
import pytest
import torch
from PIL import Image

from core.errors import DataError
from core.image.data import ImageData, load_dataset, load_torchvision


def test_digits_are_embedded_8x8_grey_with_ten_classes(digits):
    assert digits.images.shape == (1797, 1, 8, 8) and digits.images.dtype == torch.uint8
    assert digits.images.max() == 255 and digits.images.min() == 0
    assert sorted(set(digits.labels.tolist())) == list(range(10)) and digits.class_names == [str(i) for i in range(10)]
    x = digits.float_images(slice(0, 5))
    assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1


@pytest.mark.parametrize("layout", ["NHW", "NHWC", "NCHW"])
@pytest.mark.parametrize("with_labels", [True, False])
def test_npz_arrays_in_any_layout(tmp_path, layout, with_labels):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (12, 10, 14), dtype=np.uint8)
    images = {"NHW": grey, "NHWC": np.repeat(grey[..., None], 3, -1), "NCHW": np.repeat(grey[:, None], 3, 1)}[layout]
    arrays = {"images": images, **({"labels": np.arange(12) % 3 + 5} if with_labels else {})}
    np.savez(tmp_path / "set.npz", **arrays)
    data = load_dataset(str(tmp_path / "set.npz"))
    assert data.images.shape == (12, 1 if layout == "NHW" else 3, 10, 14)
    assert torch.equal(data.images[:, 0], torch.from_numpy(grey))
    if with_labels:  # label values become class names, labels index them
        assert data.class_names == ["5", "6", "7"] and data.labels.tolist() == [0, 1, 2] * 4
    else:
        assert data.labels is None and data.class_names is None


def test_npz_float_and_wide_integer_images(tmp_path):
    unit = np.linspace(0, 1, 2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4)
    np.savez(tmp_path / "unit.npz", images=unit)
    np.savez(tmp_path / "bytes.npz", images=unit.astype(np.float64) * 255)
    np.savez(tmp_path / "16bit.npz", images=(unit * 65535).astype(np.uint16))
    for name in ("unit.npz", "bytes.npz", "16bit.npz"):
        data = load_dataset(str(tmp_path / name))
        assert data.images[0, 0, 0, 0] == 0 and data.images[1, 0, 3, 3] == 255
        assert torch.allclose(data.float_images(), torch.from_numpy(unit)[:, None], atol=1 / 255)


def test_npz_with_class_names(tmp_path):
    np.savez(tmp_path / "named.npz", images=np.zeros((4, 4, 4), np.uint8), labels=[0, 1, 1, 0],
             class_names=np.array(["cat", "dog"]))
    data = load_dataset(str(tmp_path / "named.npz"))
    assert data.class_names == ["cat", "dog"] and data.labels.tolist() == [0, 1, 1, 0]
    np.savez(tmp_path / "bad.npz", images=np.zeros((4, 4, 4), np.uint8), labels=[0, 1, 2, 0],
             class_names=np.array(["cat", "dog"]))
    with pytest.raises(DataError, match="class_names"):
        load_dataset(str(tmp_path / "bad.npz"))


@pytest.mark.parametrize("array, words", [
    (np.zeros((5, 784), np.uint8), "(5, 784)"),  # flattened images
    (np.zeros((5, 2, 8, 8), np.uint8), "(5, 2, 8, 8)"),  # two channels
    (np.zeros((0, 8, 8), np.uint8), "(0, 1, 8, 8)"),  # no images at all
    (np.full((2, 4, 4), np.nan, np.float32), "NaN"),
])
def test_npz_with_wrong_images_says_what_was_expected(tmp_path, array, words):
    np.savez(tmp_path / "bad.npz", images=array)
    with pytest.raises(DataError) as err:
        load_dataset(str(tmp_path / "bad.npz"))
    assert str(tmp_path / "bad.npz") in str(err.value) and words in str(err.value)


def test_npz_without_images_key_lists_what_it_has(tmp_path):
    np.savez(tmp_path / "x.npz", pixels=np.zeros((3, 4, 4)), targets=np.zeros(3))
    with pytest.raises(DataError, match=r"no 'images' array \(found: pixels, targets\)"):
        load_dataset(str(tmp_path / "x.npz"))


def test_corrupt_npz_and_unknown_sources(tmp_path):
    np.savez(tmp_path / "ok.npz", images=np.zeros((3, 4, 4), np.uint8))
    (tmp_path / "corrupt.npz").write_bytes((tmp_path / "ok.npz").read_bytes()[:40])
    with pytest.raises(DataError, match="corrupt.npz: not a readable .npz file"):
        load_dataset(str(tmp_path / "corrupt.npz"))
    with pytest.raises(DataError, match="unknown data set 'nope'"):
        load_dataset("nope")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match="unsupported file type"):
        load_dataset(str(tmp_path / "notes.txt"))


def test_real_olivetti_faces_are_upright(shared_data):
    data = load_dataset(str(shared_data / "olivetti" / "olivettifaces.mat"))
    assert data.images.shape == (400, 1, 64, 64)
    assert data.labels.tolist() == [i // 10 for i in range(400)] and len(data.class_names) == 40
    assert data.images.min() == 0 and data.images.max() == 255  # scaled to the full range like scikit-learn's copy
    x = data.float_images()[:, 0]
    # Upright faces: lit foreheads above dark chins and collars, and mirror-symmetric left to right.
    assert x[:, :8].mean() > x[:, -8:].mean() + 0.1
    # (0.11 vs 0.16 mean difference to the mirror image; a sideways face swaps the two.)
    assert (x - x.flip(-1)).abs().mean() < 0.8 * (x - x.flip(-2)).abs().mean()


def test_olivetti_by_name_comes_from_the_data_folder(shared_data, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(shared_data))
    data = load_dataset("olivetti")
    assert data.images.shape == (400, 1, 64, 64)


def test_mat_without_faces_is_refused(tmp_path):
    from scipy.io import savemat
    savemat(tmp_path / "other.mat", {"pixels": np.zeros((16, 3))})
    with pytest.raises(DataError, match=r"no 'faces' array \(found: pixels\)"):
        load_dataset(str(tmp_path / "other.mat"))
    (tmp_path / "broken.mat").write_bytes(b"MATLAB 5.0 nonsense")
    with pytest.raises(DataError, match="broken.mat: not a readable .mat file"):
        load_dataset(str(tmp_path / "broken.mat"))


def test_real_mnist_10k(shared_data):
    data = load_dataset(str(shared_data / "mnist10k.npz"))
    assert data.images.shape == (10000, 1, 28, 28) and data.images.dtype == torch.uint8
    assert np.bincount(data.labels).min() > 800 and data.class_names == [str(i) for i in range(10)]
    assert data.float_images().mean().item() == pytest.approx(0.13, abs=0.01)  # MNIST's well-known mean


def save_image(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)


def test_image_folder_mixes_sizes_formats_and_colour(tmp_path, caplog):
    rng = np.random.default_rng(0)
    save_image(tmp_path / "cats" / "a.png", rng.integers(0, 256, (20, 20), dtype=np.uint8))
    save_image(tmp_path / "cats" / "b.jpg", rng.integers(0, 256, (30, 18, 3), dtype=np.uint8))
    save_image(tmp_path / "dogs" / "c.png", np.full((9, 40), 200, np.uint8))
    (tmp_path / "dogs" / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "dogs" / "readme.txt").write_text("not an image")
    data = load_dataset(str(tmp_path))
    assert data.images.shape == (3, 3, 20, 20)  # colour because one image is; the first image's size
    assert data.class_names == ["cats", "dogs"] and data.labels.tolist() == [0, 0, 1]
    assert data.skipped == [str(tmp_path / "dogs" / "broken.png")]
    assert "broken.png" in caplog.text
    assert (data.images[2] == 200).all()  # grey copied to all three channels


def test_grey_image_folder_stays_grey_and_takes_a_size(tmp_path):
    for i in range(4):
        save_image(tmp_path / f"{i}.png", np.full((64, 48), 50 * i, np.uint8))
    data = load_dataset(str(tmp_path), image_size=16)
    assert data.images.shape == (4, 1, 16, 16) and data.labels is None
    assert data.images[:, 0, 8, 8].tolist() == [0, 50, 100, 150]


def test_empty_or_unreadable_image_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no image files"):
        load_dataset(str(tmp_path / "empty"))
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="none of the 1 image files could be read"):
        load_dataset(str(tmp_path / "junk"))


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_torchvision_set_offline_says_where_to_put_the_files(tmp_path, monkeypatch, name, folder):
    import torchvision.datasets as tvd

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tvd, folder, type(folder, (), {"__init__": offline}))
    with pytest.raises(DataError) as err:
        load_torchvision(name, tmp_path)
    message = str(err.value)
    assert f"could not download {name}" in message and "URLError" in message
    assert str(tmp_path / folder) in message


def test_torchvision_set_offline_through_the_data_root(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tvd, "CIFAR10", type("CIFAR10", (), {"__init__": offline}))
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path))
    with pytest.raises(DataError, match=f"put the CIFAR10 files in {tmp_path}"):
        load_dataset("cifar10")


def test_split_is_disjoint_complete_and_stratified(digits):
    train, val = digits.split(0.2, seed=3)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == len(digits)
    assert len(val) == round(0.2 * len(digits))
    share = np.bincount(digits.labels[val], minlength=10) / np.bincount(digits.labels, minlength=10)
    assert np.allclose(share, 0.2, atol=0.02)  # every class keeps its share
    assert np.array_equal(digits.split(0.2, seed=3)[1], val)  # reproducible
    assert not np.array_equal(digits.split(0.2, seed=4)[1], val)


def test_split_without_labels_and_tiny_sets():
    data = ImageData("x", torch.zeros(10, 1, 4, 4, dtype=torch.uint8))
    train, val = data.split(0.3)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(10)) and len(val) == 3
    with pytest.raises(DataError, match="at least 2 images"):
        ImageData("one", torch.zeros(1, 1, 4, 4, dtype=torch.uint8)).split()
    few = ImageData("few", torch.zeros(3, 1, 4, 4, dtype=torch.uint8), np.array([0, 1, 2]))
    assert len(few.split(0.5)[1]) == 2  # too few per class to stratify: still a split


def test_image_data_checks_its_arrays():
    with pytest.raises(DataError, match="uint8"):
        ImageData("f", torch.zeros(2, 1, 4, 4))
    with pytest.raises(DataError, match="3 labels for 2 images"):
        ImageData("l", torch.zeros(2, 1, 4, 4, dtype=torch.uint8), np.zeros(3, np.int64))
