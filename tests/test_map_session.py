"""The Map panel's session, headless (no Qt): what is mapped for which model, stale results, the inspector,
selections into the Workspace, exports, the view choices it remembers, and the legend's default."""
from __future__ import annotations

import csv
import gc

import numpy as np
import pytest
import torch

from core.errors import LatentExplorerError
from core.image import embedding
from core.image.data import ImageData
from core.image.imaging import to_uint8
from core.sessions import Workspace
from core.sessions.map import LEGEND_AUTO_MAX, MapChoices, MapSession
from models import build_model


def small(name: str, **config):
    torch.manual_seed(0)
    base = {"image_shape": [1, 8, 8], "mean": [0.3], "std": [0.3]} if name != "gan" else {"image_shape": [1, 8, 8]}
    return build_model(name, {**base, **config}).eval()


@pytest.fixture
def workspace(digits):
    ws = Workspace()
    ws.set_data(digits, "digits")
    return ws


def heard(session: MapSession) -> list[str]:
    events: list[str] = []
    session.listen(events.append)
    return events


def test_without_data_there_is_nothing_to_map_and_the_session_says_what_to_do(tmp_path):
    session = MapSession(Workspace(), cache_dir=tmp_path)
    assert session.map_work() is None and session.embedding is None
    assert "open a data set" in session.describe()


def test_without_a_model_the_map_is_of_pixel_space(workspace, tmp_path):
    session = MapSession(workspace, cache_dir=tmp_path)
    events = heard(session)
    assert session.method == "pca" and session.source == "data"
    assert session.map_work().run_here() is True
    assert events == ["map"]
    assert session.embedding.space == "pixels" and session.embedding.coords.shape == (len(workspace.data), 2)
    assert "Pixel space" in session.describe() and "Train or open a model" in session.describe()
    assert session.images.dtype == np.uint8 and session.images.shape == (1797, 1, 8, 8)
    assert session.class_names == [str(i) for i in range(10)] and session.legend_shown


def test_a_model_is_mapped_by_umap_unless_the_user_chose_a_projection(workspace, tmp_path):
    session = MapSession(workspace, cache_dir=tmp_path)
    workspace.set_model(small("vae", latent_dim=4))
    assert session.method == "umap"
    session.set_method("pca")
    workspace.set_model(small("ae", latent_dim=3))
    assert session.method == "pca" and session.choices.method == "pca"
    session.map_work().run_here()
    assert session.embedding.space == "latent" and session.embedding.codes.shape == (1797, 3)
    assert "Latent space of ae" in session.describe() and "5-NN accuracy" in session.describe()
    with pytest.raises(LatentExplorerError, match="unknown projection"):
        session.set_method("isomap")


def test_a_model_that_does_not_fit_the_data_maps_pixels_and_says_why(workspace, tmp_path):
    session = MapSession(workspace, MapChoices(method="pca"), cache_dir=tmp_path)
    workspace.set_model(build_model("vae", {"image_shape": [1, 28, 28], "mean": [0.3], "std": [0.3]}))
    session.map_work().run_here()
    assert session.embedding.space == "pixels" and "showing pixel space" in session.describe()


def test_only_the_newest_map_lands(workspace, tmp_path):
    session = MapSession(workspace, MapChoices(method="pca"), cache_dir=tmp_path)
    older, newer = session.map_work(), session.map_work()
    assert older.apply(older.compute(*older.args)) is False and session.embedding is None
    assert newer.run_here() is True and session.embedding is not None
    late = session.map_work()
    result = late.compute(*late.args)
    workspace.set_data(ImageData("few", workspace.data.images[:50], workspace.data.labels[:50]), "few")
    assert late.apply(result) is False and session.embedding is None  # a map of the data set before


def test_a_slow_encoder_is_mapped_by_its_samples_and_a_click_inspects_one(workspace, tmp_path):
    session = MapSession(workspace, MapChoices(method="pca"), cache_dir=tmp_path)
    gan = small("gan", latent_dim=8, channels=[8, 16])
    assert gan.capabilities.encodes_slowly
    workspace.set_model(gan)
    assert session.can_generate and session.source == "generated"
    assert session.set_samples(300) is True
    session.map_work().run_here()
    assert session.generated and len(session.embedding.codes) == 300 and not session.set_samples(300)
    assert session.images.shape == (300, 1, 8, 8) and session.labels is None and not session.legend_shown
    assert "Generated samples of gan" in session.describe()
    work = session.click(5)
    assert workspace.current_index == -1  # a sample is not a data-set item
    work.run_here()
    assert session.item.index == 5 and session.item_title() == "Generated sample #5"
    np.testing.assert_array_equal(session.item.code, session.embedding.codes[5])
    session.select([1, 2])
    assert not session.can_save_selection and session.save_selection("x") is None
    session.set_source("data")  # the user may still ask for the (slow) data-set map
    assert session.source == "data" and session.source_chosen
    workspace.set_model(small("ae", latent_dim=4))  # no prior: always the data set
    assert not session.can_generate and session.source == "data"


def test_a_click_picks_the_item_in_the_workspace_and_the_inspector_follows(workspace, tmp_path):
    session = MapSession(workspace, MapChoices(method="pca"), cache_dir=tmp_path)
    workspace.set_model(small("vae", latent_dim=4))
    session.map_work().run_here()
    events = heard(session)
    assert session.click(10) is None and workspace.current_index == 10 and events == ["current_index"]
    work = session.inspect_work()
    stale = session.inspect_work(3)
    assert work.run_here() is False  # a newer inspection was asked for
    assert stale.run_here() is True and events[-1] == "item"
    item = session.item
    assert item.index == 3 and len(item.neighbours) == 8 and item.reconstruction.shape == (1, 8, 8)
    assert session.item_title() == f"Item #3 · {workspace.data.labels[3]}"
    assert session.inspect_work(5000) is None


def test_selections_become_named_selections_of_the_workspace(workspace, tmp_path):
    session = MapSession(workspace, cache_dir=tmp_path)
    session.map_work().run_here()
    assert session.selection_summary().startswith("Select points") and not session.can_save_selection
    session.select([1, 2, 3])
    session.select([3, 4], add=True)
    assert session.selection.tolist() == [1, 2, 3, 4]
    labels = workspace.data.labels[[1, 2, 3, 4]]
    summary = session.selection_summary()
    assert summary.startswith("4 points selected — ") and str(labels[0]) in summary
    assert session.default_selection_name() == "selection 1"
    assert session.save_selection("") == "selection 1"
    assert session.save_selection("  sixes ") == "sixes"
    workspace.add_selection("selection 3", [7])
    assert session.default_selection_name() == "selection 4"  # never one that is taken
    session.select([9])
    session.show_selection("sixes")
    assert session.selection.tolist() == [1, 2, 3, 4]
    session.remove_selection("sixes")
    assert list(workspace.selections) == ["selection 1", "selection 3"]


def test_exports_of_data_and_generated_maps_parse_back(workspace, tmp_path):
    session = MapSession(workspace, MapChoices(method="pca"), cache_dir=tmp_path / "cache")
    with pytest.raises(LatentExplorerError, match="no map"):
        session.export_csv(tmp_path / "none.csv")
    session.map_work().run_here()
    workspace.add_selection("loops", [4, 8])
    workspace.add_selection("fours", [4])
    with open(session.export_csv(tmp_path / "map.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1797 and rows[4]["label"] == str(workspace.data.labels[4])
    assert (rows[4]["selections"], rows[8]["selections"], rows[5]["selections"]) == ("loops;fours", "loops", "")
    paths = session.projector_work(tmp_path / "projector").run_here()
    assert np.loadtxt(paths[0], delimiter="\t").shape == session.embedding.codes.shape
    workspace.set_model(small("gan", latent_dim=8, channels=[8, 16]))
    session.set_samples(120)
    session.map_work().run_here()
    with open(session.export_csv(tmp_path / "samples.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 120 and rows[0]["label"] == ""


def test_view_choices_round_trip_as_plain_values_and_bad_ones_fall_back():
    choices = MapChoices(images=False, thumbnail_px=52, method="tsne", legend=True, legend_offset=(-10.0, 30.0))
    assert MapChoices.from_dict(choices.to_dict()) == choices
    assert MapChoices.from_dict({"images": "x", "thumbnail_px": 5000, "method": "isomap", "legend": 3,
                                 "legend_offset": ["a", 1]}) == MapChoices(thumbnail_px=96)
    assert MapChoices.from_dict(None) == MapChoices()


def test_the_legend_starts_hidden_for_many_classes(tmp_path):
    faces = ImageData("faces", torch.randint(0, 255, (400, 1, 8, 8), dtype=torch.uint8), np.arange(400) // 10,
                      [f"person {i}" for i in range(40)])
    workspace = Workspace()
    workspace.set_data(faces, "faces")
    session = MapSession(workspace, cache_dir=tmp_path)
    session.map_work().run_here()
    assert len(session.class_names) == 40 > LEGEND_AUTO_MAX and not session.legend_shown
    session.choices.legend = True
    assert session.legend_shown


def test_the_boundary_item_sits_where_two_classes_meet(workspace, tmp_path):
    session = MapSession(workspace, MapChoices(method="pca"), cache_dir=tmp_path)
    session.map_work().run_here()
    index = session.boundary_item(50)
    labels = workspace.data.labels
    near = np.argsort(np.linalg.norm(session.embedding.coords - session.embedding.coords[index], axis=1))[:50]
    assert len(np.unique(labels[near])) >= 2


def test_a_dropped_session_stops_listening_to_the_workspace(workspace, tmp_path):
    session = MapSession(workspace, cache_dir=tmp_path)
    events = heard(session)
    del session
    gc.collect()
    workspace.set_current_index(4)
    assert events == []


def test_map_images_are_uint8_arrays_of_the_generated_samples(workspace, tmp_path):
    session = MapSession(workspace, MapChoices(method="pca"), cache_dir=tmp_path)
    workspace.set_model(small("vae", latent_dim=4))
    session.set_source("generated")
    session.set_samples(100)
    session.map_work().run_here()
    expected = to_uint8(workspace.model.decode(torch.from_numpy(session.embedding.codes[:3])).detach().clamp(0, 1))
    assert np.array_equal(session.images[:3], expected)
    assert isinstance(session.images, np.ndarray)
    assert embedding.generated_data(session.embedding).labels is None
