"""The Compare panel's headless session: the list of checkpoints, the comparison and the demo models as Works
(with progress and cancel), results as plain rows and chart points."""
from __future__ import annotations

import threading

import pytest

import core.image.compare
from core.errors import Cancelled, LatentExplorerError
from core.image.compare import run_label
from core.sessions import Workspace
from core.sessions.compare import COLUMNS, CompareSession, run_comparison
from models import build_model
from zoo_helpers import untrained


@pytest.fixture(scope="module")
def runs(tmp_path_factory, digits):
    """A run folder: two VAEs and a GAN on digits, a VAE on another data set."""
    root = tmp_path_factory.mktemp("runs")
    return root, {key: untrained(name, digits, root / key, dataset) for key, name, dataset in
                  (("run-1", "vae", "digits"), ("run-2", "vae", "digits"), ("gan", "gan", "digits"),
                   ("other", "vae", "mnist"))}


@pytest.fixture
def workspace(digits):
    ws = Workspace()
    ws.set_data(digits, "digits")
    return ws


def test_the_list_adds_once_removes_and_checks(workspace, runs):
    _, paths = runs
    session = CompareSession(workspace)
    assert session.empty_text() == "No models yet: Find runs, Add…, or Demo models."
    assert session.add(paths["run-1"]) and session.add(paths["gan"])
    assert not session.add(paths["run-1"].parent / "." / "checkpoint.pt")  # the same file
    assert session.checkpoints == [paths["run-1"].resolve(), paths["gan"].resolve()]
    assert session.entries[0].name == "run-1/checkpoint.pt"
    assert session.empty_text() == "Press Compare to score the 2 checked models."
    session.set_checked(paths["gan"], False)
    assert session.checked == [paths["run-1"].resolve()]
    session.set_checked(paths["run-1"], False)
    assert session.empty_text() == "Check the models to compare."
    with pytest.raises(LatentExplorerError, match="Check at least one model"):
        session.compare()
    session.remove([paths["run-1"]])
    assert session.checkpoints == [paths["gan"].resolve()]
    session.start_over()
    assert session.checkpoints == []


def test_models_join_when_they_fit_the_data(workspace, runs):
    _, paths = runs
    session = CompareSession(workspace)
    assert not session.add_trained(paths["other"], "mnist")
    assert session.add_trained(paths["run-1"], "digits")
    workspace.set_model(build_model("vae", {"image_shape": [1, 28, 28], "mean": [0.3], "std": [0.3], "latent_dim": 2}), paths["other"])
    assert not session.add_current_model()  # another image shape
    workspace.set_model(build_model("vae", {"image_shape": [1, 8, 8], "mean": [0.3], "std": [0.3], "latent_dim": 2}), paths["gan"])
    assert session.add_current_model() and len(session.checkpoints) == 2
    assert not CompareSession(Workspace()).add_trained(paths["run-1"], "digits")  # no data set open


def test_find_runs_adds_the_runs_of_this_data_set(workspace, runs):
    root, paths = runs
    session = CompareSession(workspace)
    session.add(paths["gan"])
    assert session.find_runs(root).run_here() == 2  # the GAN was there already; "other" trained on mnist
    assert set(session.checkpoints) == {paths[k].resolve() for k in ("run-1", "run-2", "gan")}
    stale = session.find_runs(root)
    session.start_over()
    assert stale.run_here() == 0 and session.checkpoints == []
    with pytest.raises(LatentExplorerError, match="Open a data set first"):
        CompareSession(Workspace()).find_runs(root)


def test_the_comparison_gives_rows_and_a_point_per_run(workspace, runs, cache_dir):
    _, paths = runs
    session = CompareSession(workspace)
    for key in ("run-1", "run-2", "gan"):
        session.add(paths[key])
    session.set_options(samples=50)
    progress = []
    work = session.compare()
    message = work.apply(work.compute(*work.args, progress=lambda f, m: progress.append((f, m))))
    assert message.startswith("3 models, 50 samples each; feature classifier accuracy")
    assert progress[-1] == (1.0, "done") and any("feature classifier" in m for _, m in progress)
    rows = session.rows()
    assert [r.label for r in rows] == ["real images (held out)", "vae (run-1)", "vae (run-2)", "gan"]
    assert all(len(r.cells) == len(COLUMNS) for r in rows) and rows[1].samples.shape == (8, 1, 8, 8)
    cells = dict(zip((c.header for c in COLUMNS), rows[1].cells))
    assert cells["Train time"] == "2.0 s" and cells["Classes"].endswith("/10") and cells["NLL bits/dim ↓"][0] == "≤"
    assert session.empty_text() == "" and session.baseline_frechet == session.comparison.baseline.frechet
    points = session.points()
    assert [(p.label, p.family) for p in points] == [("vae (run-1)", "vae"), ("vae (run-2)", "vae"), ("gan", "gan")]
    assert len({p.marker for p in points}) == 3  # two runs of one family: two markers, two labels


def test_a_comparison_can_be_cancelled_and_a_stale_one_is_dropped(workspace, runs, cache_dir):
    _, paths = runs
    session = CompareSession(workspace)
    session.add(paths["gan"])
    cancel = threading.Event()
    cancel.set()
    work = session.compare()
    with pytest.raises(Cancelled):
        work.compute(*work.args, cancel=cancel)
    result = work.compute(*work.args)
    session.start_over()  # another data set meanwhile
    assert work.apply(result) is None and session.comparison is None and session.rows() == []


def test_demo_models_are_trained_added_and_compared(workspace, tmp_path, cache_dir, monkeypatch):
    monkeypatch.setattr(core.image.compare, "DEMO_SECONDS", 0.5)
    monkeypatch.setattr(core.image.compare, "DEMO_FAMILIES", ("vae", "gan"))
    session = CompareSession(workspace)
    session.set_options(samples=50)
    cancel = threading.Event()
    cancel.set()
    work = session.demo_models(tmp_path / "demo")
    with pytest.raises(Cancelled):
        work.compute(*work.args, cancel=cancel)
    progress = []
    message = work.apply(work.compute(*work.args, progress=lambda f, m: progress.append(f)))
    assert message.startswith("2 models")
    assert session.checkpoints == [tmp_path / "demo" / name / "checkpoint.pt" for name in ("vae", "gan")]
    assert [p.label for p in session.points()] == ["vae", "gan"]
    assert progress[-1] == 1.0 and all(0 <= f <= 1 for f in progress)


def test_run_labels_name_the_run():
    assert run_label("vae", "vae") == "vae" and run_label("vae", "") == "vae"
    assert run_label("vae", "run-2") == "vae (run-2)"
    assert run_label("gan", "20250101-120000_gan_digits") == "gan (20250101-120000)"


def test_run_comparison_passes_progress_and_cancel_through(digits, runs, cache_dir):
    _, paths = runs
    seen = []
    comparison = run_comparison(digits, [paths["gan"]], "digits", 50, None, lambda f, m: seen.append(f))
    assert len(comparison.reports) == 1 and seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen)
