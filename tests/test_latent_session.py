"""The Latent panel's session, headless (no Qt): code statistics and slider axes, the current code and its
picture, starting points, traversals, sample grids, watched denoising, and results made stale by a new
model."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from core.errors import LatentExplorerError
from core.image import latent
from core.image.imaging import to_uint8
from core.sessions import Workspace
from core.sessions.latent import ALL_AXES, LatentSession
from models import build_model


def small(name: str, **config):
    torch.manual_seed(0)
    return build_model(name, {"image_shape": [1, 8, 8], "mean": [0.3], "std": [0.3], **config}).eval()


@pytest.fixture
def workspace(digits):
    ws = Workspace()
    ws.set_data(digits, "digits")
    return ws


@pytest.fixture
def session(workspace):
    """A session on an (untrained) 8-d VAE, its statistics measured and its mean code decoded."""
    s = LatentSession(workspace, np.random.default_rng(0))
    workspace.set_model(small("vae", latent_dim=8))
    s.refresh().run_here()
    s.decode_work().run_here()
    return s


def heard(session: LatentSession) -> list[str]:
    events: list[str] = []
    session.listen(events.append)
    return events


def test_without_a_model_the_session_says_what_to_do(workspace):
    s = LatentSession(workspace)
    assert s.refresh() is None and not s.ready and not s.can_sample
    assert "No model yet" in s.describe() and "once there is a model" in s.why_no_samples()


def test_statistics_give_one_axis_per_dimension_and_start_at_the_mean(workspace):
    s = LatentSession(workspace)
    events = heard(s)
    workspace.set_model(small("vae", latent_dim=8))
    assert events == ["reset"]
    work = s.refresh()
    assert "Measuring" in s.describe()
    assert work.run_here() is True and events[1:] == ["stats", "code"]
    assert s.stats.labels == [f"z{i}" for i in range(8)] and s.axis == ALL_AXES and s.what == "mean code"
    np.testing.assert_allclose(s.z, s.stats.mean)
    assert "8-dim latent, one slider per dimension" in s.describe() and "1,797 codes of digits" in s.describe()
    s.decode_work().run_here()
    assert events[-1] == "decoded" and s.shown_request == s.request and s.picture_title == "Decoded: mean code"
    np.testing.assert_array_equal(s.picture, to_uint8(latent.decode_codes(s.model, s.stats.mean)))


def test_moving_one_slider_moves_z_along_its_axis_only(session):
    z = session.z.copy()
    session.set_coord(3, session.ranges()[3, 1])
    assert session.what == "edited code" and session.sigmas()[3] == pytest.approx(3.0, rel=1e-4)
    np.testing.assert_allclose(np.delete(session.z - z, 3), 0, atol=1e-6)
    first, second = session.decode_work(), session.decode_work()
    assert second.run_here() and session.shown_request == second.apply.args[1]
    assert first.run_here() and session.shown_request < session.request  # an older decode: its number shows it


def test_start_from_the_current_item_a_random_code_or_the_mean(session, workspace, digits):
    assert not session.can_start_from_item and session.item_work() is None
    workspace.set_current_index(42)
    assert session.can_start_from_item
    session.item_work().run_here()
    assert session.what == "item 42"
    np.testing.assert_allclose(session.z, latent.encode_data(session.model, digits, [42])[0], atol=1e-6)
    session.random_code()
    assert session.what == "random code" and not np.allclose(session.z, session.stats.mean)
    session.reset_code()
    np.testing.assert_allclose(session.z, session.stats.mean)


def test_a_traversal_sweeps_the_chosen_axis_around_z(session):
    session.axis, session.steps = 2, 5
    work = session.traverse_work()
    assert work.what == "Traversing z2…"
    work.run_here()
    expected = latent.decode_codes(session.model, latent.traversal(session.stats, session.z, [2], 5))
    assert session.traversal.cols == 5 and session.traversal.title.startswith("Rows: z2;")
    np.testing.assert_array_equal(session.traversal.images, to_uint8(expected))
    session.axis = ALL_AXES
    session.traverse_work().run_here()
    assert session.traversal.images.shape == (8 * 5, 1, 8, 8)


@pytest.mark.parametrize("axis, steps", [(None, 5), (2, 0), (2, 1)])
def test_a_traversal_of_no_axis_or_too_few_steps_is_refused_with_a_message(session, axis, steps):
    session.axis, session.steps = axis, steps
    with pytest.raises(LatentExplorerError, match="nothing to traverse"):
        session.traverse_work()


def test_sample_grids_with_a_fixed_seed_repeat_and_only_the_newest_lands(session, tmp_path):
    session.side, session.seed, session.temperature = 4, 7, 1.0
    session.sample_work().run_here()
    first = session.samples.images
    np.testing.assert_array_equal(first, to_uint8(latent.sample_grid(session.model, 16, 1.0, 7)))
    assert session.samples.title == "16 samples from the prior, temperature 1, seed 7"
    older, newer = session.sample_work(), session.sample_work()
    assert older.run_here() is False and newer.run_here() is True
    np.testing.assert_array_equal(session.samples.images, first)
    assert session.new_seed() == session.seed != 7
    session.temperature = 0.0
    session.sample_work().run_here()
    assert (session.samples.images == session.samples.images[:1]).all()
    with Image.open(session.save_samples(tmp_path / "samples.png")) as im:
        assert im.size[0] == im.size[1] >= 4 * 8


def test_a_new_model_makes_every_result_under_way_stale(session, workspace):
    traversal, samples, decode = session.traverse_work(), session.sample_work(), session.decode_work()
    workspace.set_model(small("vae", latent_dim=4))
    session.refresh()
    assert traversal.run_here() is False and samples.run_here() is False and decode.run_here() is False
    assert session.traversal is None and session.samples is None and session.picture is None


def test_models_without_a_prior_cannot_sample(workspace, tmp_path):
    s = LatentSession(workspace)
    workspace.set_model(small("ae", latent_dim=4))
    s.refresh().run_here()
    assert s.ready and not s.can_sample and "no prior" in s.why_no_samples()
    with pytest.raises(LatentExplorerError, match="no prior"):
        s.sample_work()
    with pytest.raises(LatentExplorerError, match="nothing to save"):
        s.save_samples(tmp_path / "x.png")


def test_a_model_that_does_not_fit_the_data_uses_the_prior(workspace):
    s = LatentSession(workspace)
    workspace.set_current_index(3)
    workspace.set_model(build_model("vae", {"image_shape": [1, 28, 28], "mean": [0.1], "std": [0.3],
                                            "latent_dim": 70}).eval())
    s.refresh().run_here()
    assert s.stats.count == 0 and len(s.stats.labels) == 64 and s.axis == 0
    assert "prior" in s.describe() and not s.can_start_from_item


def test_denoising_is_watched_step_by_step_and_ends_on_the_samples(workspace):
    torch.manual_seed(0)
    model = build_model("diffusion", {"image_shape": [1, 8, 8], "channels": [8, 8], "sample_steps": 6}).eval()
    s = LatentSession(workspace)
    workspace.set_model(model)
    s.refresh().run_here()
    assert s.can_denoise
    events = heard(s)
    s.side, s.seed, s.denoise = 2, 5, True
    steps = []
    work = s.sample_work(lambda *args: (steps.append(args[2:4]), s.show_denoise_step(*args)))
    assert work.what == "Denoising…"
    work.run_here()
    assert steps == [(k, 6) for k in range(1, 7)] and events == ["denoise_step"] * 6 + ["samples"]
    assert s.samples.images.shape == (4, 1, 8, 8) and s.denoising is None
    expected = to_uint8(latent.sample_grid(model, 4, 1.0, 5)).astype(int)
    assert np.abs(s.samples.images.astype(int) - expected).max() <= 1
    late = s.sample_work(lambda *args: s.show_denoise_step(*args))
    s.stop_sampling()  # drawn over: its steps and its grid no longer land
    events.clear()
    assert late.run_here() is False and events == []
