"""The map at scale, headless: the grid index and density images (core.image.map_grid), cluster names and
search (core.image.clusters), UMAP and t-SNE learnt from a sample with the rest placed, memory-mapped
.npz images and image folders with progress. Small sizes: bench/map_render.py carries the speed goals."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import core.image.projection as projection
from core.image.clusters import name_clusters, search
from core.image.data import ImageData, load_dataset, load_npz
from core.image.embedding import data_fingerprint
from core.image.map_grid import MapGrid, colourise


def blobs(n: int, seed: int = 0, classes: int = 4):
    """``n`` points in ``classes`` well-separated blobs, and each one's class."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centres = np.array([[0, 0], [20, 0], [0, 20], [20, 20], [40, 40]])[:classes]
    return (centres[labels] + rng.normal(size=(n, 2))).astype(np.float32), labels


RGB = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [200, 200, 0]], np.uint8)


def test_the_grid_finds_exactly_the_points_in_a_rectangle_and_the_nearest_one():
    coords, labels = blobs(20_000)
    grid = MapGrid(coords, RGB[labels])
    rng = np.random.default_rng(1)
    for _ in range(20):
        x0, y0 = rng.uniform(-5, 25, 2)
        rect = (x0, y0, x0 + rng.uniform(0.1, 15), y0 + rng.uniform(0.1, 15))
        inside = np.flatnonzero((coords[:, 0] >= rect[0]) & (coords[:, 0] <= rect[2]) & (coords[:, 1] >= rect[1])
                                & (coords[:, 1] <= rect[3]))
        np.testing.assert_array_equal(grid.indices_in(rect), inside)
        assert len(inside) <= grid.count_in(rect) <= len(inside) + 0.05 * len(coords)
    x, y = coords[123] + 0.01
    assert grid.nearest(x, y, 0.2, 0.2) == int(np.argmin(np.square(coords - [x, y]).sum(axis=1)))
    assert grid.nearest(-50, -50, 1, 1) is None
    members = np.flatnonzero(labels != 2)  # a hidden class is not in the index
    hidden = MapGrid(coords, RGB[labels], members)
    twos = np.flatnonzero(labels == 2)
    assert len(hidden) == len(members) and not np.isin(hidden.indices_in((-5, -5, 25, 25)), twos).any()
    restricted = grid.restricted(labels != 2)  # the same, without sorting again
    np.testing.assert_array_equal(restricted.indices_in((-5, -5, 25, 25)), hidden.indices_in((-5, -5, 25, 25)))
    for g, alpha_there in ((grid, True), (restricted, False)):  # blob 2's centre, (0, 20), in the density image
        level = g.level(2)
        assert bool(level.bgra[int((20 - level.origin[1]) / level.cell), int(-level.origin[0] / level.cell), 3]) \
            == alpha_there
    assert len(grid.indices_in((-5, -5, 25, 25))) > len(restricted.indices_in((-5, -5, 25, 25)))  # the original kept


def test_density_images_colour_each_cell_by_its_classes_and_halve_down_the_pyramid():
    coords, labels = blobs(20_000)
    grid = MapGrid(coords, RGB[labels])
    sizes = [grid.level(k).bgra.shape[:2] for k in range(grid.level_count)]
    assert grid.level_count >= 4 and all(a[0] >= 2 * b[0] - 1 for a, b in zip(sizes, sizes[1:]))
    coarse = grid.level(grid.level_count - 1)
    for k, (cx, cy) in enumerate([(0, 0), (20, 0), (0, 20), (20, 20)]):  # each blob's centre: its class colour
        b, g, r, a = coarse.bgra[int((cy - coarse.origin[1]) / coarse.cell), int((cx - coarse.origin[0]) / coarse.cell)]
        assert a > 200 and np.allclose(np.array([r, g, b], float) * 255 / a, RGB[k], atol=2)  # premultiplied
    empty = coarse.bgra[int((10 - coarse.origin[1]) / coarse.cell), int((10 - coarse.origin[0]) / coarse.cell)]
    assert empty[3] == 0  # between the blobs: nothing
    assert grid.level_for(grid.cell * 4.5) is grid.level(2)
    # a mixed cell is the mean colour, premultiplied by its opacity; one point is faint
    mixed = colourise(np.array([2.0, 1.0]), np.array([[255.0, 255, 0], [255, 0, 0]]), 2)
    assert tuple(mixed[0]) == (0, 128, 128, 255) and 0 < mixed[1, 3] < 255 and mixed[1, 2] == mixed[1, 3]


def test_a_views_own_density_and_dots_land_at_the_points():
    coords, labels = blobs(5000)
    grid = MapGrid(coords, RGB[labels])
    rect = (-3.0, -3.0, 3.0, 3.0)  # the class-0 blob
    inside = grid.indices_in(rect)
    image = grid.render(inside, rect, 60, 60)
    assert image.bgra.shape == (60, 60, 4) and image.bgra[..., 3].astype(bool).sum() > 100
    assert (image.bgra[image.bgra[..., 3] == 255][:, :3] == [0, 0, 255]).all()  # red, premultiplied BGRA
    dots = grid.render_dots(inside, rect, 120, 120, 2)
    ix = ((coords[inside, 0] + 3) / dots.cell).astype(int)
    iy = ((coords[inside, 1] + 3) / dots.cell).astype(int)
    ok = (ix < 120) & (iy < 120)
    assert (dots.bgra[iy[ok], ix[ok], 3] == 255).all()
    assert dots.bgra[..., 3].astype(bool).sum() < 120 * 120  # dots, not a filled square


def test_clusters_are_named_by_their_majority_label_largest_first():
    coords, labels = blobs(8000, classes=4)
    labels = labels.copy()
    labels[(labels == 3) & (np.random.default_rng(0).random(len(labels)) < 0.3)] = 0  # blob 3 is mixed
    clusters = name_clusters(coords, labels, ["zero", "one", "two", "three"])
    assert sorted(c.name.split(" ")[0] for c in clusters) == ["one", "three", "two", "zero"]
    assert any(c.name.startswith("three (") and c.name.endswith("%)") for c in clusters)  # mixed: its share
    assert [c.size for c in clusters] == sorted((c.size for c in clusters), reverse=True)
    assert sum(c.size for c in clusters) == pytest.approx(len(coords), rel=0.1)
    for c in clusters:  # the name sits on its typical item, inside its blob
        assert np.allclose([c.x, c.y], coords[c.typical]) and labels[c.typical] in (0, 1, 2, 3)
    unlabelled = name_clusters(coords)
    assert sorted(c.name for c in unlabelled) == [f"cluster {k}" for k in range(1, 5)]
    assert name_clusters(coords[:10]) == []


def test_search_finds_an_index_a_class_or_a_file():
    labels = np.array([0, 1, 1, 2, 0])
    names = ["cat", "dog", "7"]
    assert search("#3", 5, labels, names).indices.tolist() == [3]
    assert search("3", 5, labels, names).indices.tolist() == [3]
    assert search("7", 5, labels, names).indices.tolist() == [3]  # a class named "7" wins over item 7
    assert search("DOG", 5, labels, names).indices.tolist() == [1, 2]
    assert search("d", 5, labels, names).indices.tolist() == [1, 2]  # part of a class name
    found = search("b.png", 5, None, None, ["a.png", "b.png", "sub/bb.png", "c.jpg", "d"])
    assert found.indices.tolist() == [1, 2] and "2 files" in found.what
    assert search("#9", 5, labels, names).indices.tolist() == [] and "#0 to #4" in search("#9", 5).what
    assert search("zebra", 5, labels, names).indices.tolist() == [] and "nothing matches" in search("zebra", 5).what


def test_umap_and_tsne_of_many_codes_learn_from_a_sample_and_place_the_rest(monkeypatch):
    monkeypatch.setattr(projection, "FIT_SAMPLE", 300)
    monkeypatch.setattr(projection, "PLACE_BATCH", 400)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 1500)
    codes = (np.eye(3, 6)[labels] * 10 + rng.normal(size=(1500, 6))).astype(np.float32)
    for method in ("umap", "tsne"):
        reports = []
        coords = projection.project(codes, method, seed=0, isolate=False,
                                    progress=lambda f, text: reports.append((f, text)))
        assert coords.shape == (1500, 2) and np.isfinite(coords).all()
        placed = [f for f, text in reports if "placed" in text]
        assert len(placed) == 3 and placed[-1] == 1.0 and "learning the map from 300 of 1,500" in reports[0][1]
        centres = np.array([np.median(coords[labels == k], axis=0) for k in range(3)])
        spread = max(np.median(np.linalg.norm(coords[labels == k] - centres[k], axis=1)) for k in range(3))
        assert min(np.linalg.norm(centres[a] - centres[b]) for a in range(3) for b in range(a)) > 3 * spread


def mapped_from(array: np.ndarray, path) -> bool:
    """Whether ``array``'s memory is a mapping of the file ``path`` (from /proc/self/maps)."""
    address = array.__array_interface__["data"][0]
    with open("/proc/self/maps") as maps:
        for line in maps:
            if line.rstrip().endswith(str(path)):
                start, end = (int(v, 16) for v in line.split()[0].split("-"))
                if start <= address < end:
                    return True
    return False


def test_an_uncompressed_npz_is_memory_mapped_and_a_compressed_one_read(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (50, 28, 28), np.uint8)
    np.savez(tmp_path / "big.npz", images=images, labels=np.arange(50) % 5)
    np.savez_compressed(tmp_path / "small.npz", images=images)
    mapped = load_npz(tmp_path / "big.npz")
    assert mapped_from(mapped.images.numpy(), tmp_path / "big.npz")
    np.testing.assert_array_equal(mapped.images[:, 0].numpy(), images)
    assert mapped.class_names == [str(i) for i in range(5)]
    read = load_npz(tmp_path / "small.npz")
    np.testing.assert_array_equal(read.images[:, 0].numpy(), images)
    assert not mapped_from(read.images.numpy(), tmp_path / "small.npz")
    assert data_fingerprint(mapped) == data_fingerprint(read)
    mapped.images[0, 0, 0, 0] = 7  # copy on write: the file stays as it was
    np.testing.assert_array_equal(load_npz(tmp_path / "big.npz").images[:, 0].numpy(), images)


def test_an_image_folder_reports_progress_and_keeps_each_items_file(tmp_path, monkeypatch):
    import core.image.data as data_module
    monkeypatch.setattr(data_module, "FOLDER_PROGRESS_EVERY", 4)
    for k in range(10):
        (tmp_path / f"c{k % 2}").mkdir(exist_ok=True)
        Image.fromarray(np.full((8, 8), k * 20, np.uint8)).save(tmp_path / f"c{k % 2}" / f"im{k}.png")
    (tmp_path / "c0" / "broken.png").write_bytes(b"not an image")
    reports = []
    data = load_dataset(str(tmp_path), progress=lambda f, text: reports.append((f, text)))
    assert len(data) == 10 and data.skipped and data.files[0] == "c0/im0.png" and len(data.files) == 10
    assert [f for f, _ in reports] == [0.0, 4 / 11, 8 / 11, 1.0] and "read 10 images" in reports[-1][1]
    assert data.images[data.files.index("c1/im3.png"), 0, 0, 0].item() == 60 and data.labels.tolist().count(1) == 5
    assert isinstance(data, ImageData) and data.images.dtype == torch.uint8
