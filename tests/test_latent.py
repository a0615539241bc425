"""Engine tests for latent-space play: code statistics, interpolation, traversals, sampling, attribute
vectors, and the picture helpers that export them."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from core.errors import DataError, LatentExplorerError
from core.image import imaging, latent
from core.image.data import read_image_file
from core.runs.quicktrain import train_briefly
from core.train.loop import TrainConfig
from models import build_model


@pytest.fixture(scope="session")
def digits_vae(digits):
    """A fully-connected VAE trained on the 8x8 digits for a few seconds (30 epochs)."""
    return train_briefly(digits, "digits", "vae", seconds=12,
                         config=TrainConfig(epochs=30, batch_size=64, lr=2e-3, device="cpu"), latent_dim=16)


# --- interpolation -----------------------------------------------------------------------------
@pytest.mark.parametrize("method", latent.METHODS)
def test_interpolation_endpoints_decode_to_the_reconstructions_of_a_and_b(digits_vae, digits, method):
    x = digits.images[[0, 5]]
    a, b = latent.encode_images(digits_vae, x)
    strip = latent.decode_codes(digits_vae, latent.interpolate(a, b, 7, method))
    recon = latent.reconstruct(digits_vae, x)
    assert strip.shape == (7, 1, 8, 8)
    torch.testing.assert_close(strip[0], recon[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(strip[-1], recon[1], atol=1e-5, rtol=0)
    assert (strip[3] - recon[0]).abs().mean() > 0.01 and (strip[3] - recon[1]).abs().mean() > 0.01


def test_slerp_keeps_the_norm_profile_where_lerp_cuts_through_the_middle():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(32) * 1.0, rng.standard_normal(32) * 1.5
    t = np.linspace(0, 1, 11)
    norms = np.linalg.norm(latent.slerp(a, b, t), axis=1)
    np.testing.assert_allclose(norms, (1 - t) * np.linalg.norm(a) + t * np.linalg.norm(b), rtol=1e-5)
    lerp_mid = np.linalg.norm(latent.lerp(a, b, 0.5))
    assert lerp_mid < 0.8 * norms[5]  # nearly orthogonal codes: the straight line dips towards the origin
    # the direction turns at a constant rate along the great circle
    unit = latent.slerp(a, b, t) / norms[:, None]
    steps = np.arccos(np.clip(np.sum(unit[1:] * unit[:-1], axis=1), -1, 1))
    np.testing.assert_allclose(steps, steps[0], rtol=1e-4)


@pytest.mark.parametrize("b_of_a", [lambda a: a.copy(), lambda a: -a, lambda a: 2 * a, lambda a: np.zeros_like(a)])
def test_slerp_of_degenerate_pairs_is_finite_with_exact_endpoints(b_of_a):
    a = np.array([0.5, -1.0, 2.0, 0.25], np.float32)
    b = b_of_a(a).astype(np.float32)
    path = latent.interpolate(a, b, 9, "spherical")
    assert np.isfinite(path).all()
    np.testing.assert_allclose(path[0], a, atol=1e-6)
    np.testing.assert_allclose(path[-1], b, atol=1e-6)


def test_interpolate_rejects_unknown_methods_and_too_few_steps():
    with pytest.raises(ValueError, match="method"):
        latent.interpolate(np.zeros(2), np.ones(2), 5, "cubic")
    with pytest.raises(ValueError, match="2 steps"):
        latent.interpolate(np.zeros(2), np.ones(2), 1)


# --- slider axes and traversals ----------------------------------------------------------------
def test_small_latents_get_one_slider_per_dimension_with_3_sigma_ranges(digits_vae, digits):
    stats = latent.code_stats(digits_vae, digits)
    codes = latent.encode_data(digits_vae, digits)
    assert stats.count == len(digits) and stats.labels[:2] == ["z0", "z1"]
    np.testing.assert_allclose(stats.mean, codes.mean(0), atol=1e-4)
    np.testing.assert_allclose(stats.ranges()[:, 1], 3 * codes.std(0), rtol=1e-3)
    z = codes[7]
    coords = stats.coords(z)
    np.testing.assert_allclose(coords, z - stats.mean, atol=1e-5)
    coords[2] += 1.0
    moved = stats.with_coords(z, coords)
    np.testing.assert_allclose(moved - z, np.eye(16)[2], atol=1e-5)


def test_large_latents_get_sliders_along_principal_directions():
    rng = np.random.default_rng(1)
    direction = rng.standard_normal(100)
    direction /= np.linalg.norm(direction)
    codes = rng.standard_normal((400, 100)) * 0.1 + rng.standard_normal((400, 1)) * 5.0 * direction + 2.0
    stats = latent.CodeStats.from_codes(codes)
    assert len(stats.labels) == latent.PRINCIPAL_SLIDERS and stats.labels[0] == "PC1"
    assert abs(stats.directions[0] @ direction) > 0.99
    assert 4.5 < stats.scales[0] < 5.5 and stats.scales[1] < 0.2
    np.testing.assert_allclose(stats.directions @ stats.directions.T, np.eye(latent.PRINCIPAL_SLIDERS), atol=1e-4)
    z = codes[0].astype(np.float32)
    c = stats.coords(z)
    c[0] += 3.0
    moved = stats.with_coords(z, c)
    np.testing.assert_allclose(moved - z, 3.0 * stats.directions[0], atol=1e-4)  # what is off the axes stays


def test_code_stats_fall_back_to_the_prior_when_the_data_does_not_fit(digits_vae, shared_data):
    from core.image.data import load_npz
    mnist = load_npz(shared_data / "mnist10k.npz")
    stats = latent.code_stats(digits_vae, mnist)
    assert stats.count == 0 and np.all(stats.mean == 0) and np.all(stats.scales == 1)
    assert latent.code_stats(digits_vae, None).count == 0


def test_code_stats_rejects_nan_codes():
    with pytest.raises(LatentExplorerError, match="NaN"):
        latent.CodeStats.from_codes(np.array([[0.0, np.nan], [1.0, 2.0]]))


def test_traversal_sweeps_one_axis_from_minus_to_plus_3_sigma(digits_vae, digits):
    stats = latent.code_stats(digits_vae, digits)
    z = stats.mean + 0.3
    codes = latent.traversal(stats, z, [1, 4], steps=5)
    assert codes.shape == (10, 16)
    np.testing.assert_allclose(codes[:5, 1] - stats.mean[1], np.linspace(-3, 3, 5) * stats.scales[1], atol=1e-5)
    np.testing.assert_allclose(np.delete(codes[:5], 1, axis=1), np.delete(np.tile(z, (5, 1)), 1, axis=1), atol=1e-5)
    np.testing.assert_allclose(codes[5:, 4] - stats.mean[4], np.linspace(-3, 3, 5) * stats.scales[4], atol=1e-5)
    images = latent.decode_codes(digits_vae, codes)
    assert images.shape == (10, 1, 8, 8) and (images[0] - images[4]).abs().mean() > 0.01


# --- sampling ----------------------------------------------------------------------------------
def test_sample_grid_is_reproducible_for_a_fixed_seed_and_temperature_scales_the_spread(digits_vae):
    first = latent.sample_grid(digits_vae, 16, 1.0, seed=3)
    torch.testing.assert_close(first, latent.sample_grid(digits_vae, 16, 1.0, seed=3))
    assert (first - latent.sample_grid(digits_vae, 16, 1.0, seed=4)).abs().mean() > 0.01
    frozen = latent.sample_grid(digits_vae, 4, 0.0, seed=3)  # temperature 0: every sample is the prior's mean
    torch.testing.assert_close(frozen, frozen[:1].expand_as(frozen))
    assert first.var(0).mean() > latent.sample_grid(digits_vae, 16, 0.3, seed=3).var(0).mean()


def test_sample_grid_refuses_models_without_a_prior(digits):
    ae = build_model("ae", {"image_shape": [1, 8, 8], "mean": [0.3], "std": [0.3]})
    with pytest.raises(LatentExplorerError, match="no prior"):
        latent.sample_grid(ae, 4)


# --- attribute vectors -------------------------------------------------------------------------
def test_adding_the_8_minus_3_vector_moves_a_classifier_towards_8(digits_vae, digits, capsys):
    """The lecture's smile vector on digits: mean code of 8s minus mean code of 3s, added (strength 1) to
    held-out 3s, judged by a logistic-regression classifier trained on the digits' pixels."""
    from sklearn.linear_model import LogisticRegression
    labels = digits.labels
    perm = np.random.default_rng(0).permutation(len(digits))
    fit, held_out = perm[: len(perm) // 2], perm[len(perm) // 2:]
    clf = LogisticRegression(max_iter=2000).fit(digits.float_images(torch.from_numpy(fit)).flatten(1).numpy(),
                                                labels[fit])
    codes = latent.encode_data(digits_vae, digits)
    vector = latent.attribute_vector(codes[fit][labels[fit] == 8], codes[fit][labels[fit] == 3])
    threes = held_out[labels[held_out] == 3]
    eight = list(clf.classes_).index(8)
    before = clf.predict_proba(latent.decode_codes(digits_vae, codes[threes]).flatten(1).numpy())[:, eight]
    moved = latent.decode_codes(digits_vae, latent.apply_vector(codes[threes], vector, 1.0)).flatten(1).numpy()
    after = clf.predict_proba(moved)[:, eight]
    towards = float(np.mean(after > before))
    became = float(np.mean(clf.classes_[clf.predict_proba(moved).argmax(1)] == 8))
    with capsys.disabled():
        print(f"\n8 - 3 vector on {len(threes)} held-out 3s: {towards:.0%} moved towards 8, {became:.0%} now read as 8")
    assert len(threes) > 50
    assert towards > 0.75


def test_attribute_vector_is_mean_a_minus_mean_b_and_apply_scales_it():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    b = np.array([[0.0, 1.0]])
    v = latent.attribute_vector(a, b)
    np.testing.assert_allclose(v, [2.0, 2.0])
    np.testing.assert_allclose(latent.apply_vector(np.zeros((3, 2)), v, -0.5), np.full((3, 2), -1.0))
    with pytest.raises(LatentExplorerError, match="at least one"):
        latent.attribute_vector(a, np.zeros((0, 2)))


def test_vectors_save_and_load_with_names_and_checkpoint(tmp_path, digits_vae):
    fp = latent.model_fingerprint(digits_vae)
    vectors = [latent.AttributeVector("eight minus three", np.arange(16, dtype=np.float32), "label 8 - label 3",
                                      "/runs/a/checkpoint.pt", fp),
               latent.AttributeVector("bold", -np.ones(16, np.float32))]
    path = latent.save_vectors(tmp_path / "v.json", vectors)
    loaded = latent.load_vectors(path, latent_dim=16)
    assert [v.name for v in loaded] == ["eight minus three", "bold"]
    assert loaded[0].checkpoint == "/runs/a/checkpoint.pt" and loaded[0].fingerprint == fp
    np.testing.assert_array_equal(loaded[0].vector, vectors[0].vector)
    with pytest.raises(LatentExplorerError, match="16 dimensions, the model's latent has 8"):
        latent.load_vectors(path, latent_dim=8)


@pytest.mark.parametrize("content, message", [
    ("{not json", "not a readable vectors file"),
    ('{"format": "something-else", "vectors": []}', "not a Latent Explorer vectors file"),
    ('{"format": "latent-explorer-vectors/1", "vectors": [{"vector": [1, 2]}]}', "vector 1 is malformed"),
    ('{"format": "latent-explorer-vectors/1", "vectors": [{"name": "x", "vector": [1, NaN]}]}', "not a finite"),
])
def test_bad_vector_files_give_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(LatentExplorerError, match=message):
        latent.load_vectors(path)
    with pytest.raises(LatentExplorerError, match="no such file"):
        latent.load_vectors(tmp_path / "missing.json")


def test_model_fingerprint_follows_the_weights(digits):
    cfg = {"image_shape": [1, 8, 8], "mean": [0.3], "std": [0.3], "latent_dim": 4}
    torch.manual_seed(0)
    m1 = build_model("vae", cfg)
    torch.manual_seed(0)
    m2 = build_model("vae", cfg)
    assert latent.model_fingerprint(m1) == latent.model_fingerprint(m2)
    with torch.no_grad():
        next(m2.parameters()).add_(1e-3)
    assert latent.model_fingerprint(m1) != latent.model_fingerprint(m2)


# --- pictures ----------------------------------------------------------------------------------
def test_tile_png_and_gif_round_trip(tmp_path):
    images = torch.rand(6, 1, 8, 8)
    picture = imaging.tile(images, 3, pad=1)
    assert picture.shape == (2 * 9 + 1, 3 * 9 + 1, 3) and picture.dtype == np.uint8
    np.testing.assert_array_equal(picture[1:9, 1:9, 0], imaging.to_uint8(images)[0, 0])
    png = imaging.save_png(tmp_path / "grid.png", imaging.upscale(picture, 4))
    with Image.open(png) as im:
        assert im.size == (4 * picture.shape[1], 4 * picture.shape[0])
        np.testing.assert_array_equal(np.asarray(im.convert("RGB"))[::4, ::4], picture)
    gif = imaging.save_gif(tmp_path / "strip.gif", images, frame_ms=50, scale=2)
    with Image.open(gif) as im:
        assert im.n_frames == 6 + 4 and im.size == (16, 16) and im.info["loop"] == 0
        im.seek(0)
        first = np.asarray(im.convert("L")).astype(int)
    assert np.abs(first[::2, ::2] - imaging.to_uint8(images)[0, 0].astype(int)).max() <= 8  # GIF palette


def test_load_image_file_fits_the_model_shape(tmp_path):
    rgb = np.zeros((30, 60, 3), np.uint8)
    rgb[:, 20:40] = 255  # a white band in the middle: survives the centre crop
    Image.fromarray(rgb).save(tmp_path / "wide.png")
    grey = read_image_file(tmp_path / "wide.png", (1, 10, 10))
    assert grey.shape == (1, 1, 10, 10) and grey.dtype == torch.uint8
    assert grey[0, 0, 5, 5] > 200 and grey[0, 0, 5, 0] < 60
    colour = read_image_file(tmp_path / "wide.png", (3, 16, 16))
    assert colour.shape == (1, 3, 16, 16)


def test_load_image_file_reports_bad_files(tmp_path):
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(DataError, match="not a readable image"):
        read_image_file(tmp_path / "junk.png", (1, 8, 8))
    with pytest.raises(DataError, match="no such image file"):
        read_image_file(tmp_path / "nope.png", (1, 8, 8))


def test_encode_images_checks_the_shape(digits_vae):
    with pytest.raises(LatentExplorerError, match="takes images shaped"):
        latent.encode_images(digits_vae, torch.zeros(2, 1, 28, 28))


def test_train_briefly_stops_at_its_time_budget(digits):
    import time
    t0 = time.monotonic()
    model = train_briefly(digits, "digits", "ae", seconds=0.5, config=TrainConfig(epochs=10_000, device="cpu"))
    assert time.monotonic() - t0 < 10 and not model.training
