"""pytest-qt tests of the compare panel's own widgets: its empty states, the Demo models button, finding, adding
and removing runs, and a table and chart that tell every run apart (the comparison itself: test_zoo_gui.py)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

import core.runs.compare_demo
import gui.compare_panel
import models.registry
from core.image.compare import Comparison, ModelReport
from gui.bridge import TrainingBridge
from gui.compare_panel import COLUMNS, ComparePanel
from gui.context import AppContext
from models import FAMILIES, names
from zoo_helpers import untrained

LONG_MS = 240_000  # the CI machine is slow and shared


@pytest.fixture
def context(qtbot):
    return AppContext()


@pytest.fixture
def panel(qtbot, context):
    widget = ComparePanel(context, TrainingBridge())
    qtbot.addWidget(widget)
    widget.resize(900, 700)
    widget.show()
    return widget


def test_empty_states_say_what_to_do(panel, context, digits, qtbot):
    assert panel.empty.isVisible() and panel.empty.text() == "No data set open."
    assert not any(b.isEnabled() for b in (panel.find_button, panel.add_button, panel.demo_button,
                                            panel.compare_button, panel.remove_button))
    context.set_data(digits, "digits")
    assert panel.empty.text() == "No models yet: Find runs, Add…, or Demo models."
    assert panel.find_button.isEnabled() and panel.demo_button.isEnabled() and not panel.compare_button.isEnabled()


def test_runs_are_found_added_unchecked_and_removed(panel, context, digits, qtbot, tmp_path, monkeypatch):
    context.set_data(digits, "digits")
    runs = tmp_path / "runs"
    paths = [untrained("vae", digits, runs / name) for name in ("run-1", "run-2")]
    untrained("vae", digits, runs / "elsewhere", dataset="mnist")
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(runs))
    qtbot.mouseClick(panel.find_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.list.count() == 2, timeout=LONG_MS)
    assert panel.status.text() == f"2 runs of this data set found in {runs}"
    assert panel.empty.text() == "Press Compare to score the 2 checked models."
    extra = untrained("gan", digits, tmp_path / "gan")
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: ([str(extra)], "")))
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    assert panel.checkpoints == [p.resolve() for p in (*paths, extra)]
    panel.list.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert panel.checked == [paths[1].resolve(), extra.resolve()]
    assert not panel.remove_button.isEnabled()
    panel.list.item(1).setSelected(True)
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    assert [panel.list.item(i).text() for i in range(panel.list.count())] == ["run-1/checkpoint.pt",
                                                                             "gan/checkpoint.pt"]
    assert panel.list.item(0).checkState() == Qt.CheckState.Unchecked
    assert panel.empty.text() == "Press Compare to score the 1 checked model."


def test_two_runs_of_one_family_are_told_apart(panel, context, digits, qtbot, tmp_path, cache_dir):
    context.set_data(digits, "digits")
    for name in ("run-1", "run-2"):
        panel.add_checkpoint(untrained("vae", digits, tmp_path / name))
    panel.samples_spin.setValue(50)
    qtbot.mouseClick(panel.compare_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.task is None, timeout=LONG_MS)
    assert panel.comparison is not None, panel.status.text()
    assert not panel.empty.isVisible() and panel.table.isVisible()
    assert [panel.table.item(r, 0).text() for r in range(1, 3)] == ["vae (run-1)", "vae (run-2)"]
    assert [panel.legend.item(i).text() for i in range(panel.legend.count())] == ["vae (run-1)", "vae (run-2)"]
    symbols = [item.opts["symbol"] for item in panel.plot.getPlotItem().items if isinstance(item, pg.ScatterPlotItem)]
    assert len(symbols) == 2 and symbols[0] != symbols[1]  # a marker shape per run
    header, last = panel.table.horizontalHeader(), 1 + len(COLUMNS)
    assert header.sectionViewportPosition(last) + header.sectionSize(last) <= header.viewport().width()
    assert header.sectionSize(last) >= header.sectionSizeHint(last)  # "Train time" shows whole


def test_the_demo_models_button_trains_and_compares(panel, context, digits, qtbot, cache_dir, monkeypatch):
    monkeypatch.setattr(core.runs.compare_demo, "DEMO_SECONDS", 0.5)
    monkeypatch.setattr(core.runs.compare_demo, "DEMO_FAMILIES", ("vae", "gan"))
    context.set_data(digits, "digits")
    panel.samples_spin.setValue(50)
    qtbot.mouseClick(panel.demo_button, Qt.MouseButton.LeftButton)  # a real click sends clicked(checked=False)
    assert panel.task is not None and panel.cancel_button.isEnabled() and not panel.demo_button.isEnabled()
    qtbot.waitUntil(lambda: panel.task is None, timeout=LONG_MS)
    assert panel.comparison is not None, panel.status.text()
    assert [p.parent.name for p in panel.checkpoints] == ["vae", "gan"] and panel.list.count() == 2
    assert panel.table.rowCount() == 3 and panel.progress.value() == 1000
    assert panel.status.text().startswith("2 models, 50 samples each")


def test_a_comparison_shows_the_checked_models_and_says_when_it_no_longer_does(panel, context, digits, qtbot,
                                                                               tmp_path, cache_dir, monkeypatch):
    """Issue 22 item 13: after Find runs and Demo models, the table showed the 4 demo models of 14 checked ones."""
    monkeypatch.setattr(core.runs.compare_demo, "DEMO_SECONDS", 0.3)
    monkeypatch.setattr(core.runs.compare_demo, "DEMO_FAMILIES", ("vae",))
    context.set_data(digits, "digits")
    monkeypatch.setattr(gui.compare_panel, "runs_root", lambda: tmp_path / "runs")
    for name in ("run-1", "run-2"):
        panel.add_checkpoint(untrained("vae", digits, tmp_path / name))
    panel.samples_spin.setValue(50)
    qtbot.mouseClick(panel.demo_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.task is None, timeout=LONG_MS)
    assert len(panel.checked) == 3 and panel.table.rowCount() == 1 + 3, panel.status.text()
    assert panel.status.text().startswith("3 models") and panel.table_note.isHidden()
    panel.list.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert panel.table_note.isVisible() and "2 are checked now: press Compare" in panel.table_note.text()


def ten_runs() -> Comparison:
    """A comparison of 10 runs of 5 families, their points close together (as runs of one family are)."""
    families = ("vae", "gan", "flow", "diffusion", "flow-matching")
    reports = [ModelReport(f"{name} (2026-12-05-0{i}{j})", name, f"/runs/{name}-{j}/checkpoint.pt",
                           frechet=5.0 + 0.1 * i + 0.05 * j, recall=0.5, ms_per_image=0.1 * 10 ** i,
                           ms_low=0.09 * 10 ** i, ms_high=0.12 * 10 ** i, samples=np.zeros((8, 1, 8, 8), np.uint8))
               for i, name in enumerate(families) for j in range(2)]
    return Comparison("digits", 0.97, 10, 50, reports, ModelReport("real images (held out)", "data", "", frechet=0.4))


def test_ten_runs_have_a_whole_key_and_no_labels_piled_up_in_the_chart(panel, context, digits, qtbot):
    """Issue 22 item 16: with 10 runs the point labels smeared into each other and the legend stopped after 8."""
    context.set_data(digits, "digits")
    panel.session.comparison = ten_runs()
    panel.resize(1000, 700)
    panel._show_results()
    qtbot.waitUntil(panel.legend.isVisible)
    items = panel.plot.getPlotItem().items
    assert not [item for item in items if isinstance(item, pg.TextItem)]  # hovering a point names it instead
    assert len([item for item in items if isinstance(item, pg.ScatterPlotItem)]) == 10
    key = [panel.legend.item(i) for i in range(panel.legend.count())]
    assert [item.text() for item in key] == [r.label for r in panel.session.comparison.reports]
    assert len({item.icon().cacheKey() for item in key}) == 10
    shown = [panel.legend.viewport().rect().contains(panel.legend.visualItemRect(item)) for item in key]
    assert all(shown) or panel.legend.verticalScrollBar().isVisible()  # every entry in sight, or a scroll away
    assert [panel.table.item(r, 2 + len(COLUMNS) - 2).text() for r in (1, 2)] == ["0.1 ±15 %", "0.1 ±15 %"]


def test_family_colours_are_keyed_by_name_not_by_registry_position(monkeypatch):
    """Issue 17: a family registered before the others recoloured them all."""
    before = {name: gui.compare_panel.family_colour(name) for name in names("image")}
    assert len(set(before.values())) == len(before)
    reordered = {"zz-new": FAMILIES["vae"], **FAMILIES}
    monkeypatch.setattr(models.registry, "FAMILIES", reordered)
    assert {name: gui.compare_panel.family_colour(name) for name in before} == before
    assert gui.compare_panel.family_colour("zz-new") not in ("#7f7f7f", "")
    assert gui.compare_panel.family_colour("real images") == "#7f7f7f"
