"""The Morph panel's headless session: A and B, the strip and the scrub, attribute vectors, exports, the Faces
demo; every Work run here, on the test's thread."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from core.errors import DataError, LatentExplorerError
from core.image import latent
from core.image.imaging import to_uint8
from core.sessions import Workspace
from core.sessions.morph import SLOW_GROUP_LIMIT, MorphSession, decode_pictures
from image_helpers import write_bomb
from models import build_model


def tiny_vae(latent_dim: int = 6, shape=(1, 8, 8)):
    torch.manual_seed(0)  # untrained: its decodes still differ from code to code, which is all these tests need
    return build_model("vae", {"image_shape": list(shape), "mean": [0.3], "std": [0.3], "latent_dim": latent_dim,
                               "hidden": [32]}).eval()


@pytest.fixture
def workspace(digits):
    ws = Workspace()
    ws.set_data(digits, "digits")
    ws.set_model(tiny_vae())
    return ws


@pytest.fixture
def session(workspace):
    s = MorphSession(workspace)
    for work in s.start_over().values():
        assert work.run_here() is True
    return s


def decoded(model, codes) -> np.ndarray:
    return to_uint8(latent.decode_codes(model, codes))


def test_start_over_picks_two_items_of_different_classes(session, digits):
    a, b = session.ends["A"], session.ends["B"]
    assert a.label == "item 0 · 0" and digits.labels[int(b.label.split()[1])] != digits.labels[0]
    assert a.image.dtype == np.uint8 and a.image.shape == (1, 1, 8, 8)
    np.testing.assert_array_equal(a.image, digits.images[:1].numpy())
    np.testing.assert_allclose(a.code, latent.encode_data(session.model, digits, [0])[0], atol=1e-6)
    assert not session.picking


def test_the_strip_runs_from_a_to_b_linear_or_spherical(session):
    model = session.model
    session.strip_work().run_here()
    strip = session.strip
    assert strip.shape == (8, 1, 8, 8) and strip.dtype == np.uint8
    a, b = session.codes
    np.testing.assert_array_equal(strip[[0, -1]], decoded(model, np.stack([a, b])))
    assert session.strip_title.startswith("8 decoded steps, linear: item 0 · 0 → item")
    session.set_morph(method="spherical", steps=5)
    session.strip_work().run_here()
    np.testing.assert_array_equal(session.strip, decoded(model, latent.interpolate(a, b, 5, "spherical")))
    session.set_morph(steps=100)
    assert session.steps == 24  # the range of the steps


def test_the_scrub_decodes_one_morph(session):
    for t in (0.0, 1.0, 0.3):
        session.set_morph(t=t)
        session.scrub_work().run_here()
        assert session.scrubbed_t == t
        np.testing.assert_array_equal(session.scrubbed, decoded(session.model, latent.morph(*session.codes, t)))


def test_the_current_item_is_picked(session, workspace):
    workspace.set_current_index(42)
    assert session.pick_current("B").run_here() is True
    assert session.ends["B"].label == "item 42 · 1"
    workspace.set_current_index(-1)
    with pytest.raises(LatentExplorerError, match="item -1 cannot be picked"):
        session.pick_current("B")


def test_stale_picks_are_dropped(session, workspace, digits):
    older, newer = session.pick_item("A", 5), session.pick_item("A", 6)
    assert session.picking == {"A": "item 6 · 6"}
    assert newer.run_here() is True and older.run_here() is False  # the older one delivers last: dropped
    assert session.ends["A"].label == "item 6 · 6"
    late = session.pick_item("B", 9)
    strip = session.strip_work()
    workspace.set_model(tiny_vae(4))
    session.start_over()
    assert late.run_here() is False
    strip.run_here()
    assert session.strip is None


def test_image_files_are_fitted_and_bad_ones_refused(session, digits, tmp_path):
    Image.fromarray(digits.images[7, 0].numpy().repeat(4, 0).repeat(4, 1)).save(tmp_path / "seven.png")
    session.pick_file("B", tmp_path / "seven.png").run_here()
    b = session.ends["B"]
    assert b.label == "file seven.png" and b.image.shape == (1, 1, 8, 8)
    assert np.abs(b.image.astype(int) - digits.images[7:8].numpy().astype(int)).mean() < 20
    (tmp_path / "broken.png").write_bytes(b"\x89PNG but not really")
    for path, message in ((tmp_path / "broken.png", "broken.png: not a readable image"),
                          (write_bomb(tmp_path / "bomb.png"), "bomb.png: refused: over the limit of 64,000,000 pixels"),
                          (tmp_path / "gone.png", "gone.png: no such image file")):
        work = session.pick_file("B", path)
        with pytest.raises(DataError, match=message):
            work.compute(*work.args)
        session.failed_pick("B")
        assert session.ends["B"] is b and not session.picking


def test_a_model_for_other_pictures_morphs_files_only(workspace, digits, tmp_path):
    workspace.set_model(tiny_vae(shape=(1, 28, 28)))
    session = MorphSession(workspace)
    assert session.start_over() == {} and not session.data_fits and session.can_morph
    assert "takes pictures [1, 28, 28], digits has [1, 8, 8]: pick A and B from image files" in session.describe()
    with pytest.raises(LatentExplorerError, match="cannot be picked"):
        session.pick_item("A", 0)
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(tmp_path / "black.png")
    session.pick_file("A", tmp_path / "black.png").run_here()
    assert session.ends["A"].image.shape == (1, 1, 28, 28)


def test_what_the_session_says_about_each_kind_of_model(workspace):
    session = MorphSession(workspace)
    workspace.set_model(None)
    assert session.describe().startswith("No model yet") and not session.can_morph
    assert session.faces_demo_note() == ""
    workspace.set_model(build_model("gan", {"image_shape": [1, 8, 8], "latent_dim": 4, "channels": [8, 8]}))
    assert session.can_morph and "searches for each picture's code" in session.describe()
    assert session.faces_demo_note() == ("The Faces demo replaces digits and the gan model with the Olivetti faces and "
                                         "a face VAE trained now.")
    work = session.make_vector("label:1", "label:0")
    assert work.args[-1] == SLOW_GROUP_LIMIT  # inversion is slow: fewer items per group


def test_attribute_vectors_are_made_applied_named_saved_and_loaded(session, workspace, digits, tmp_path):
    workspace.add_selection("loopy", np.flatnonzero(digits.labels == 8))
    choices = dict(session.group_choices())
    assert choices["selection:loopy"] == f"selection: loopy ({np.sum(digits.labels == 8)})"
    assert choices["label:3"] == f"label: 3 ({np.sum(digits.labels == 3)})"
    with pytest.raises(LatentExplorerError, match="two different groups"):
        session.make_vector("label:3", "label:3")
    message = session.make_vector("selection:loopy", "label:3").run_here()
    vector = session.vectors[0]
    assert vector.name == "loopy − 3" and message.startswith("Made 'loopy − 3'") and session.current == 0
    codes = latent.encode_data(session.model, digits)
    np.testing.assert_allclose(vector.vector, codes[digits.labels == 8].mean(0) - codes[digits.labels == 3].mean(0),
                               atol=1e-4)
    assert vector.fingerprint == latent.model_fingerprint(session.model)

    session.set_strength(0.0)
    session.vector_work().run_here()
    np.testing.assert_array_equal(session.applied[0], session.applied[1])  # strength 0: A unchanged
    session.set_strength(2.0)
    session.vector_work().run_here()
    a = session.ends["A"].code
    np.testing.assert_array_equal(session.applied, decoded(session.model, np.stack([a, a + 2 * vector.vector])))
    assert session.applied_title == "A, then A +2.00 × loopy − 3"

    session.make_vector("label:1", "label:0", "one").run_here()
    session.rename_vector(0, "renamed")
    path = session.save_vectors(tmp_path / "vectors.json")
    session.remove_vector(0)
    assert [v.name for v in session.vectors] == ["one"]
    assert session.load_vectors(path).run_here() == "Loaded 2 vectors from vectors.json"
    assert [v.name for v in session.vectors] == ["one", "renamed", "one"] and session.current == 2

    foreign = latent.AttributeVector("elsewhere", np.ones(6, np.float32), fingerprint="another model")
    latent.save_vectors(tmp_path / "foreign.json", [foreign])
    assert "made with another model: elsewhere" in session.load_vectors(tmp_path / "foreign.json").run_here()
    latent.save_vectors(tmp_path / "wide.json", [latent.AttributeVector("wide", np.ones(5, np.float32))])
    work = session.load_vectors(tmp_path / "wide.json")
    with pytest.raises(LatentExplorerError, match="5 dimensions"):
        work.compute(*work.args)
    session.select_vector(-1)
    assert session.vector_work() is None and session.applied is None


def test_strip_exports_load_back(session, tmp_path):
    with pytest.raises(LatentExplorerError, match="pick A and B first"):
        session.save_strip_png(tmp_path / "none.png")
    session.strip_work().run_here()
    with Image.open(session.save_strip_png(tmp_path / "strip.png")) as im:
        assert im.size[0] > 7 * im.size[1]
    with Image.open(session.save_strip_gif(tmp_path / "strip.gif")) as im:
        assert im.n_frames == 2 * 8 - 2 and im.size[0] == im.size[1] >= 64
        im.seek(3)
        frame = np.asarray(im.convert("L")).astype(int)
    scale = frame.shape[0] // 8
    assert np.abs(frame[::scale, ::scale] - session.strip[3, 0]).mean() < 6


def test_decode_pictures_hands_out_uint8():
    model = tiny_vae()
    pictures = decode_pictures(model, np.zeros((3, 6), np.float32))
    assert pictures.dtype == np.uint8 and pictures.shape == (3, 1, 8, 8)


def test_the_faces_demo_replaces_data_and_model(session, workspace, shared_data):
    message = session.faces_demo(seconds=1.0).run_here()
    assert workspace.data.image_shape == (1, 64, 64) and len(workspace.data) == 400
    assert workspace.model.name == "vae" and workspace.model_fits_data
    assert message.startswith("Faces demo: 400 faces")
    for work in session.start_over().values():
        work.run_here()
    assert session.ends["A"].label == "item 0 · person 0" and session.ends["B"].label.endswith("person 10")
