"""pytest-qt tests of the compare panel's own widgets: its empty states, the Demo models button, finding, adding
and removing runs, and a table and chart that tell every run apart (the comparison itself: test_zoo_gui.py)."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

import core.image.compare
from gui.bridge import TrainingBridge
from gui.compare_panel import COLUMNS, ComparePanel
from gui.context import AppContext
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
    legend = [(sample.item.opts["symbol"], label.text) for sample, label in panel.legend.items]
    assert [text for _, text in legend] == ["vae (run-1)", "vae (run-2)"]
    assert legend[0][0] != legend[1][0]  # a marker shape per run
    texts = [item.toPlainText() for item in panel.plot.getPlotItem().items if hasattr(item, "toPlainText")]
    assert {"vae (run-1)", "vae (run-2)"} <= set(texts)
    header, last = panel.table.horizontalHeader(), 1 + len(COLUMNS)
    assert header.sectionViewportPosition(last) + header.sectionSize(last) <= header.viewport().width()
    assert header.sectionSize(last) >= header.sectionSizeHint(last)  # "Train time" shows whole


def test_the_demo_models_button_trains_and_compares(panel, context, digits, qtbot, cache_dir, monkeypatch):
    monkeypatch.setattr(core.image.compare, "DEMO_SECONDS", 0.5)
    monkeypatch.setattr(core.image.compare, "DEMO_FAMILIES", ("vae", "gan"))
    context.set_data(digits, "digits")
    panel.samples_spin.setValue(50)
    qtbot.mouseClick(panel.demo_button, Qt.MouseButton.LeftButton)  # a real click sends clicked(checked=False)
    assert panel.task is not None and panel.cancel_button.isEnabled() and not panel.demo_button.isEnabled()
    qtbot.waitUntil(lambda: panel.task is None, timeout=LONG_MS)
    assert panel.comparison is not None, panel.status.text()
    assert [p.parent.name for p in panel.checkpoints] == ["vae", "gan"] and panel.list.count() == 2
    assert panel.table.rowCount() == 3 and panel.progress.value() == 1000
    assert panel.status.text().startswith("2 models, 50 samples each")
