"""The embedding map panel, driven through its real widgets (pytest-qt): one point per item, images
when zoomed in, hover, click -> inspector with same-class neighbours, rectangle and lasso selections,
named selections in the context, re-projection on a new model, exports, cancel, and the Job helper."""
from __future__ import annotations

import csv
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QHelpEvent, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QFileDialog

from core.errors import Cancelled, LatentExplorerError
from core.runs.quicktrain import train_briefly
from core.train.loop import TrainConfig
from gui.background.jobs import Job
from gui.background.tasks import running_tasks
from gui.context import AppContext
from gui.map_panel import MapPanel
from gui.map_view import MAX_THUMBNAILS
from gui.settings import app_settings
from models import build_model

LONG_MS = 60_000


@pytest.fixture(scope="module")
def digits_vae(digits):
    return train_briefly(digits, "digits", "vae", seconds=30, config=TrainConfig(epochs=30, device="cpu"))


def shown_pca_panel(qtbot, context: AppContext) -> MapPanel:
    """A map panel on ``context``, shown at 1000 x 700 px, projecting with PCA (instant)."""
    p = MapPanel(context)
    qtbot.addWidget(p)
    p.resize(1000, 700)
    p.show()
    p.set_method("pca")
    return p


@pytest.fixture
def panel(qtbot, digits, digits_vae, tmp_path, monkeypatch):
    """A map panel on the digits and the trained VAE, projected with PCA (instant), 1000 x 700 px."""
    monkeypatch.setenv("LATENT_EXPLORER_CACHE", str(tmp_path / "cache"))
    context = AppContext()
    p = shown_pca_panel(qtbot, context)
    context.set_data(digits, "digits")
    context.set_model(digits_vae)
    qtbot.waitUntil(lambda: not p.busy and p.session.embedding is not None, timeout=LONG_MS)
    qtbot.waitUntil(lambda: running_tasks() == 0, timeout=LONG_MS)
    yield p
    p.cancel()
    qtbot.waitUntil(lambda: running_tasks() == 0, timeout=LONG_MS)


def viewport_pos(p: MapPanel, index: int) -> QPoint:
    """Where item ``index`` is drawn, in the map's viewport coordinates."""
    view = p.view
    x, y = view.coords[index]
    return view.mapFromScene(view.viewbox.mapViewToScene(QPointF(x, y)))


def to_view(p: MapPanel, pos: QPoint) -> np.ndarray:
    point = p.view.viewbox.mapSceneToView(p.view.mapToScene(pos))
    return np.array([point.x(), point.y()])


def mouse(widget, kind: QEvent.Type, pos: QPoint, button=Qt.MouseButton.LeftButton, buttons=None) -> None:
    held = Qt.MouseButton.LeftButton if buttons is None else buttons
    QApplication.sendEvent(widget, QMouseEvent(kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), button, held,
                                               Qt.KeyboardModifier.NoModifier))


def drag(qtbot, widget, points: list[QPoint]) -> None:
    """A left-button drag through ``points`` (press at the first, release at the last); moves are spaced
    in time, as pyqtgraph drops mouse moves faster than its rate limit."""
    mouse(widget, QEvent.Type.MouseButtonPress, points[0])
    for a, b in zip(points[:-1], points[1:]):
        for t in np.linspace(0, 1, 6)[1:]:
            step = QPoint(round(a.x() + t * (b.x() - a.x())), round(a.y() + t * (b.y() - a.y())))
            mouse(widget, QEvent.Type.MouseMove, step, Qt.MouseButton.NoButton)
            qtbot.wait(15)
    mouse(widget, QEvent.Type.MouseButtonRelease, points[-1], buttons=Qt.MouseButton.NoButton)
    qtbot.wait(20)


def dot_centres(view) -> np.ndarray:
    """The pixel of the dots image at each point's position (premultiplied BGRA; alpha 0 where no dot is)."""
    image = view.dots.density
    ix = np.floor((view.coords[:, 0] - image.origin[0]) / image.cell).astype(int)
    iy = np.floor((view.coords[:, 1] - image.origin[1]) / image.cell).astype(int)
    h, w = image.bgra.shape[:2]
    inside = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
    out = np.zeros((len(ix), 4), np.uint8)
    out[inside] = image.bgra[iy[inside], ix[inside]]
    return out


def test_the_map_shows_one_point_per_item_with_a_legend(panel, digits):
    assert len(panel.view.dots_indices) == len(digits) == 1797 and panel.view.dots.isVisible()
    np.testing.assert_array_equal(np.sort(panel.view.dots_indices), np.arange(len(digits)))
    np.testing.assert_allclose(panel.view.coords, panel.session.embedding.coords, rtol=1e-6)
    assert (dot_centres(panel.view)[:, 3] == 255).all()  # a dot drawn at every item
    assert panel.view.legend.names == [str(i) for i in range(10)] and panel.view.legend.isVisible()
    assert "Latent space of vae" in panel.banner.text() and "PCA" in panel.banner.text()


def test_zooming_in_replaces_dots_by_images_and_zooming_out_brings_the_dots_back(panel, qtbot):
    view = panel.view
    view.fit()
    view.update_detail()
    assert len(view.thumbnails.shown) == 0  # 1,797 crowded points: dots
    view.zoom_to(500, 60)
    qtbot.waitUntil(lambda: len(view.thumbnails.shown) > 0, timeout=5000)
    shown = np.fromiter(view.thumbnails.shown, dtype=np.int64)
    assert len(shown) <= MAX_THUMBNAILS and set(shown) <= set(view.in_view())
    item = view.thumbnails.shown[int(shown[0])]
    assert item.isVisible() and item.pixmap().width() == panel.size_spin.value()
    assert (item.pos().x(), item.pos().y()) == tuple(view.coords[shown[0]])
    panel.images_check.setChecked(False)
    assert len(view.thumbnails.shown) == 0
    panel.images_check.setChecked(True)
    assert len(view.thumbnails.shown) == len(shown)
    pool = len(view.thumbnails.shown) + len(view.thumbnails._free)
    view.fit()
    qtbot.waitUntil(lambda: len(view.thumbnails.shown) == 0, timeout=5000)
    view.zoom_to(900, 60)
    qtbot.waitUntil(lambda: len(view.thumbnails.shown) > 0, timeout=5000)
    assert len(view.thumbnails.shown) + len(view.thumbnails._free) <= max(pool, len(view.thumbnails.shown))  # recycled


def test_hover_shows_index_and_label(panel, digits, qtbot):
    panel.view.zoom_to(300, 40)
    pos = viewport_pos(panel, 300)
    mouse(panel.view.viewport(), QEvent.Type.MouseMove, pos, Qt.MouseButton.NoButton, Qt.MouseButton.NoButton)
    i = panel.view.hover_index
    assert i >= 0 and np.linalg.norm(panel.view.coords[i] - panel.view.coords[300]) < 1e-3 + np.ptp(
        panel.view.coords) * 0.01
    assert panel.view.hover_text == f"#{i} · {digits.labels[i]}"


def test_a_click_fills_the_inspector_and_neighbours_share_the_class(panel, digits, qtbot):
    panel.view.zoom_to(123, 30)
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=viewport_pos(panel, 123))
    qtbot.waitUntil(lambda: panel.inspector.index >= 0, timeout=LONG_MS)
    i = panel.inspector.index
    assert panel.context.current_index == i
    assert np.linalg.norm(panel.view.coords[i] - panel.view.coords[123]) <= np.ptp(panel.view.coords) * 0.01
    assert panel.inspector.reconstruction.has_image and panel.inspector.spread.has_image
    assert panel.inspector.code_plot.isVisibleTo(panel)
    assert f"#{i}" in panel.inspector.header.text()
    agree = []
    for j in range(0, len(digits), 90):
        panel.context.set_current_index(j)
        qtbot.waitUntil(lambda j=j: panel.inspector.index == j, timeout=LONG_MS)
        agree.append(np.mean(digits.labels[panel.inspector.neighbours] == digits.labels[j]))
    assert np.mean(np.array(agree) >= 0.5) >= 0.8  # most digits' neighbours are of their class
    # clicking a neighbour inspects it
    first = int(panel.inspector.neighbours[0])
    panel.inspector.neighbour_buttons[0].click()
    qtbot.waitUntil(lambda: panel.inspector.index == first, timeout=LONG_MS)


def test_rectangle_and_lasso_select_the_points_inside_and_name_them(panel, qtbot):
    view, port = panel.view, panel.view.viewport()
    panel.set_tool("rect")
    w, h = port.width(), port.height()
    a, b = QPoint(w // 4, h // 4), QPoint(w // 2, h // 2)
    drag(qtbot, port, [a, b])
    lo, hi = np.minimum(to_view(panel, a), to_view(panel, b)), np.maximum(to_view(panel, a), to_view(panel, b))
    expected = np.flatnonzero(((view.coords >= lo) & (view.coords <= hi)).all(axis=1))
    assert len(expected) > 10
    assert panel.selection.tolist() == expected.tolist()
    assert f"{len(expected):,} points selected" in panel.selection_label.text()
    panel.selection_name.setText("top left")
    panel.save_selection_button.click()
    assert panel.context.selections["top left"].tolist() == expected.tolist()
    assert panel.selection_list.count() == 1

    panel.set_tool("lasso")
    corners = [QPoint(w // 5, h // 5), QPoint(4 * w // 5, h // 3), QPoint(w // 2, 4 * h // 5)]
    drag(qtbot, port, [*corners, corners[0]])
    tri = np.array([to_view(panel, c) for c in corners])

    def side(p, q, r):
        return (q[0] - p[0]) * (r[:, 1] - p[1]) - (q[1] - p[1]) * (r[:, 0] - p[0])

    s = [side(tri[k], tri[(k + 1) % 3], view.coords) for k in range(3)]
    inside = ((s[0] > 0) & (s[1] > 0) & (s[2] > 0)) | ((s[0] < 0) & (s[1] < 0) & (s[2] < 0))
    assert abs(len(panel.selection) - inside.sum()) <= 2  # the drawn outline follows the mouse in steps
    assert len(np.setdiff1d(panel.selection, np.flatnonzero(inside))) <= 2
    panel.save_selection()
    assert len(panel.context.selections) == 2
    panel.selection_list.setCurrentRow(0)
    assert panel.selection.tolist() == expected.tolist()  # picking a saved one shows it again
    panel._remove_selection()
    assert list(panel.context.selections) == ["selection 2"]


def test_hiding_a_class_in_the_legend_hides_its_points(panel, digits, qtbot):
    view = panel.view
    entry = view.mapFromScene(view.legend.mapToScene(view.legend.entry_rect(3).center()))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=entry)  # a click on the legend's "3"
    assert view.legend.hidden == {3} and panel.context.current_index == -1
    assert set(view.dots_indices) == set(np.flatnonzero(digits.labels != 3))
    threes = dot_centres(view)[digits.labels == 3, 2::-1]  # RGB
    assert not (threes == view.colours[3].getRgb()[:3]).all(axis=1).any()  # no dot of a "3" anywhere
    assert not np.isin(panel.view.in_view(), np.flatnonzero(digits.labels == 3)).any()


def test_a_new_model_is_projected_again(panel, digits, qtbot):
    before = panel.session.embedding.coords.copy()
    torch.manual_seed(1)
    other = build_model("vae", {"image_shape": [1, 8, 8], "mean": [0.3], "std": [0.4], "latent_dim": 4}).eval()
    panel.context.set_model(other)
    qtbot.waitUntil(lambda: not panel.busy and panel.session.embedding.codes.shape[1] == 4, timeout=LONG_MS)
    coords = panel.session.embedding.coords
    assert coords.shape == before.shape and not np.allclose(coords, before)
    assert "4-d codes" in panel.banner.text()
    wrong = build_model("vae", {"image_shape": [1, 28, 28], "mean": [0.3], "std": [0.4]})
    panel.context.set_model(wrong)
    qtbot.waitUntil(lambda: not panel.busy, timeout=LONG_MS)
    assert panel.session.embedding.space == "pixels" and "showing pixel space" in panel.banner.text()
    panel.context.set_model(None)
    qtbot.waitUntil(lambda: not panel.busy, timeout=LONG_MS)
    assert "Train or open a model" in panel.banner.text() and len(panel.view.dots_indices) == len(digits)


def test_exports_parse_back(panel, digits, tmp_path, qtbot):
    png = panel.export_png(tmp_path / "map.png")
    with Image.open(png) as im:
        assert im.size == (panel.view.width(), panel.view.height())
    with open(panel.session.export_csv(tmp_path / "map.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(digits) and rows[5]["label"] == str(digits.labels[5])
    np.testing.assert_allclose([float(rows[5]["x"]), float(rows[5]["y"])], panel.session.embedding.coords[5], rtol=1e-5)
    task = panel.export_projector(tmp_path / "projector")
    with qtbot.waitSignal(task.done, timeout=LONG_MS) as blocker:
        pass
    tensors = blocker.args[0][0]
    assert np.loadtxt(tensors, delimiter="\t").shape == panel.session.embedding.codes.shape


def test_cancel_stops_a_projection(panel, qtbot):
    panel.set_method("umap")
    assert panel.busy and panel.progress_box.isVisibleTo(panel)
    panel.cancel_button.click()
    assert not panel.busy and not panel.progress_box.isVisibleTo(panel)
    qtbot.waitUntil(lambda: running_tasks() == 0, timeout=LONG_MS)
    assert "Could not" not in panel.banner.text()


def test_a_hidden_panel_waits_until_it_is_shown(qtbot, digits):
    context = AppContext()
    p = MapPanel(context)
    qtbot.addWidget(p)
    context.set_data(digits, "digits")
    assert not p.busy and p.session.embedding is None
    p.show()
    qtbot.waitUntil(lambda: p.session.embedding is not None, timeout=LONG_MS)
    assert p.session.embedding.space == "pixels"


# --- the Job helper ---------------------------------------------------------------------------
def count(n: int, fail: bool = False, *, progress, cancel):
    for i in range(n):
        if cancel.is_set():
            raise Cancelled()
        progress((i + 1) / n, f"step {i + 1}")
        time.sleep(0.01)
    if fail:
        raise LatentExplorerError("it went wrong")
    return threading.current_thread().name


def test_job_reports_progress_and_its_result_on_the_ui_thread(qtbot):
    job = Job(count, 20)
    seen = []
    job.progress.connect(lambda f, text: seen.append((f, text, threading.current_thread() is threading.main_thread())))
    with qtbot.waitSignal(job.done, timeout=LONG_MS) as blocker:
        job.start()
    assert blocker.args[0] != threading.main_thread().name  # it ran elsewhere
    assert seen and all(on_ui for _, _, on_ui in seen) and seen[-1][:2] == (1.0, "step 20")
    failing = Job(count, 2, True)
    with qtbot.waitSignal(failing.failed, timeout=LONG_MS) as blocker:
        failing.start()
    assert blocker.args == ["it went wrong", ""]


def test_a_cancelled_job_reports_cancelled_not_a_result(qtbot):
    job = Job(count, 10_000)
    results = []
    job.done.connect(results.append)
    job.failed.connect(lambda *a: results.append(a))
    with qtbot.waitSignal(job.cancelled, timeout=LONG_MS):
        job.start()
        qtbot.wait(50)
        job.cancel()
    assert results == [] and not job.running


def test_a_gan_maps_generated_samples_and_a_click_inspects_one(qtbot, digits, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_CACHE", str(tmp_path / "cache"))
    context = AppContext()
    p = shown_pca_panel(qtbot, context)
    p.samples_spin.setValue(400)
    context.set_data(digits, "digits")
    torch.manual_seed(0)
    gan = build_model("gan", {"image_shape": [1, 8, 8], "latent_dim": 8, "channels": [8, 16]}).eval()
    context.set_model(gan)
    assert p.source_box.isVisibleTo(p) and p.source_combo.currentData() == "generated"  # inversion is slow
    qtbot.waitUntil(lambda: not p.busy and p.session.embedding is not None, timeout=LONG_MS)
    assert p.session.embedding.space == "generated" and len(p.view.dots_indices) == 400
    assert "Generated samples" in p.banner.text() and not p.view.legend.names  # unlabelled: one colour
    # fewer samples: a new map
    p.samples_spin.setValue(300)
    p.samples_spin.editingFinished.emit()
    qtbot.waitUntil(lambda: not p.busy and len(p.view.dots_indices) == 300, timeout=LONG_MS)
    # a click inspects the sample: its image and z, neighbours among the samples; not a data-set item
    p.view.zoom_to(50, 30)
    qtbot.mouseClick(p.view.viewport(), Qt.MouseButton.LeftButton, pos=viewport_pos(p, 50))
    qtbot.waitUntil(lambda: p.inspector.index >= 0, timeout=LONG_MS)
    i = p.inspector.index
    assert p.inspector.header.text() == f"Generated sample #{i}" and p.inspector.original.title.text() == "generated"
    assert p.inspector.code_plot.isVisibleTo(p) and not p.inspector.reconstruction.isVisibleTo(p)
    assert context.current_index == -1 and len(p.inspector.neighbours) == 8
    np.testing.assert_array_equal(p.inspector.code_bars.opts["height"], p.session.embedding.codes[i])
    # a model that cannot sample: no source choice, the data set's codes
    ae = build_model("ae", {"image_shape": [1, 8, 8], "latent_dim": 4, "mean": [0.3], "std": [0.3]}).eval()
    context.set_model(ae)
    assert not p.source_box.isVisibleTo(p)
    qtbot.waitUntil(lambda: not p.busy and p.session.embedding is not None and p.session.embedding.space == "latent",
                    timeout=LONG_MS)
    assert len(p.view.dots_indices) == len(digits)
    p.cancel()
    qtbot.waitUntil(lambda: running_tasks() == 0, timeout=LONG_MS)


def test_view_choices_are_remembered_and_a_chosen_projection_is_kept(qtbot, panel, digits_vae):
    qtbot.mouseClick(panel.images_check, Qt.MouseButton.LeftButton)
    panel.size_spin.setValue(52)
    panel.save_settings()  # what closing the window does
    context = AppContext()
    again = MapPanel(context)
    qtbot.addWidget(again)
    assert not again.images_check.isChecked() and again.size_spin.value() == 52 and again.method == "pca"
    context.set_model(digits_vae)
    assert again.method == "pca"  # chosen by the user: a model arriving does not switch it to UMAP
    fresh_context = AppContext()
    app_settings().remove("map/view")
    fresh = MapPanel(fresh_context)
    qtbot.addWidget(fresh)
    fresh_context.set_model(digits_vae)
    assert fresh.images_check.isChecked() and fresh.size_spin.value() == 36 and fresh.method == "umap"
    fresh.cancel()
    again.cancel()
    qtbot.waitUntil(lambda: running_tasks() == 0, timeout=LONG_MS)


# --- what users reported (issue 11) -----------------------------------------------------------
def wheel(widget, pos: QPoint, notches: int = 1) -> None:
    """Turn the mouse wheel over ``pos`` by ``notches`` (positive: zoom in)."""
    QApplication.sendEvent(widget, QWheelEvent(QPointF(pos), QPointF(widget.mapToGlobal(pos)), QPoint(0, 0),
                                               QPoint(0, 120 * notches), Qt.MouseButton.NoButton,
                                               Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False))


def test_the_hover_label_stays_while_the_mouse_stays_on_the_point(panel, digits, qtbot):
    view, port = panel.view, panel.view.viewport()
    view.zoom_to(300, 40)
    pos = viewport_pos(panel, 300)
    mouse(port, QEvent.Type.MouseMove, pos, Qt.MouseButton.NoButton, Qt.MouseButton.NoButton)
    i = view.hover_index
    assert i >= 0 and view.hover_label.isVisible()
    assert view.hover_label.textItem.toPlainText() == f"#{i} · {digits.labels[i]}"
    QApplication.sendEvent(port, QHelpEvent(QEvent.Type.ToolTip, pos, port.mapToGlobal(pos)))  # Qt's tooltip time
    qtbot.wait(2500)
    assert view.hover_label.isVisible() and view.hover_index == i  # still there, mouse unmoved
    qtbot.wait(30)  # (pyqtgraph drops mouse moves faster than its rate limit)
    mouse(port, QEvent.Type.MouseMove, pos + QPoint(0, 1), Qt.MouseButton.NoButton, Qt.MouseButton.NoButton)
    assert view.hover_label.isVisible()  # a pixel further, still on the point
    qtbot.wait(30)
    empty = next(q for q in (QPoint(x, y) for y in range(10, port.height(), 20) for x in range(10, port.width(), 20))
                 if view.index_at(view.mapToScene(q)) is None)  # a spot of the map with no item under it
    mouse(port, QEvent.Type.MouseMove, empty, Qt.MouseButton.NoButton, Qt.MouseButton.NoButton)
    assert not view.hover_label.isVisible() and view.hover_index == -1


def test_a_selection_is_named_as_typed_or_by_default(panel, qtbot):
    port = panel.view.viewport()
    panel.set_tool("rect")
    w, h = port.width(), port.height()
    drag(qtbot, port, [QPoint(w // 4, h // 4), QPoint(w // 2, h // 2)])
    assert len(panel.selection) > 0 and panel.save_selection_button.isEnabled()
    assert panel.selection_name.text() == "" and "selection 1" in panel.selection_name.placeholderText()
    qtbot.keyClicks(panel.selection_name, "sixes")
    assert panel.selection_name.text() == "sixes"  # not "selection 1sixes"
    qtbot.mouseClick(panel.save_selection_button, Qt.MouseButton.LeftButton)
    assert list(panel.context.selections) == ["sixes"] and panel.selection_name.text() == ""
    drag(qtbot, port, [QPoint(w // 2, h // 2), QPoint(3 * w // 4, 3 * h // 4)])
    assert "selection 2" in panel.selection_name.placeholderText()
    qtbot.mouseClick(panel.save_selection_button, Qt.MouseButton.LeftButton)  # left empty: the default name
    assert list(panel.context.selections) == ["sixes", "selection 2"]


def test_the_legend_can_be_hidden_and_dragged_and_stays_where_it_was_put(panel, qtbot):
    view, port = panel.view, panel.view.viewport()
    assert panel.legend_check.isChecked() and view.legend.isVisible()  # ten digits: shown
    qtbot.mouseClick(panel.legend_check, Qt.MouseButton.LeftButton)
    assert not view.legend.isVisible() and panel.session.choices.legend is False
    qtbot.mouseClick(panel.legend_check, Qt.MouseButton.LeftButton)
    assert view.legend.isVisible()
    start = view.mapFromScene(view.legend.sceneBoundingRect().center())
    mouse(port, QEvent.Type.MouseMove, start, Qt.MouseButton.NoButton, Qt.MouseButton.NoButton)  # hover first
    before = view.legend.sceneBoundingRect()
    drag(qtbot, port, [start, start + QPoint(300, 200)])
    after = view.legend.sceneBoundingRect()
    assert (after.left() - before.left(), after.top() - before.top()) == pytest.approx((300, 200), abs=3)
    assert panel.session.choices.legend_offset is not None
    assert len(panel.context.selections) == 0 and len(panel.selection) == 0  # a drag of the legend, not a selection
    panel.save_settings()
    again = MapPanel(panel.context)
    qtbot.addWidget(again)
    again.resize(1000, 700)
    again.show()
    qtbot.waitUntil(lambda: not again.busy and again.session.embedding is not None, timeout=LONG_MS)
    moved = again.view.legend.sceneBoundingRect()
    assert (moved.left(), moved.top()) == pytest.approx((after.left(), after.top()), abs=3)
    again.cancel()


def test_many_classes_get_a_compact_legend_that_starts_hidden(qtbot, shared_data, tmp_path, monkeypatch):
    from core.image.data import load_dataset
    monkeypatch.setenv("LATENT_EXPLORER_CACHE", str(tmp_path / "cache"))
    faces = load_dataset(str(shared_data / "olivetti" / "olivettifaces.mat"))
    context = AppContext()
    p = shown_pca_panel(qtbot, context)
    context.set_data(faces, "olivetti")
    qtbot.waitUntil(lambda: not p.busy and p.session.embedding is not None, timeout=LONG_MS)
    view = p.view
    assert len(view.legend.names) == 40 and not view.legend.isVisible() and not p.legend_check.isChecked()
    qtbot.mouseClick(p.legend_check, Qt.MouseButton.LeftButton)
    assert view.legend.isVisible() and view.legend.boundingRect().width() > 3 * view.legend.boundingRect().height() / 4
    legend, box = view.legend.sceneBoundingRect(), view.viewbox.sceneBoundingRect()
    assert legend.width() * legend.height() < 0.15 * box.width() * box.height()
    assert box.contains(legend)
    p.cancel()


def test_images_show_as_soon_as_the_points_in_view_fit_on_screen(qtbot, shared_data):
    """10,000 MNIST digits: zooming in with the wheel, images replace dots at the first notch where the points
    in view fit on screen at a legible size (or are spread thinly), and grow to the chosen size."""
    from core.image.data import load_dataset
    from core.image.projection import pca
    from gui.map_view import CELL, LEGIBLE_PX, MapView
    mnist = load_dataset(str(shared_data / "mnist10k.npz"))
    coords = pca(mnist.float_images()[:, 0, ::2, ::2].flatten(1).numpy(), 2)
    view = MapView()
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    view.set_map(coords, mnist.images.numpy(), mnist.labels, [str(i) for i in range(10)], thumbnail_size=40)
    port = view.viewport()
    centre = QPoint(port.width() // 2, port.height() // 2)
    seen = []
    for _ in range(12):
        wheel(port, centre)
        qtbot.wait(30)  # the level of detail updates once the view settles
        in_view, shown = view.in_view(), list(view.thumbnails.shown.values())
        size, _ = view.detail(in_view)
        seen.append((len(in_view), len(shown), shown[0].pixmap().width() if shown else 0))
        assert bool(shown) == (size is not None)
        if len(in_view) <= view.images_fit(LEGIBLE_PX):
            assert shown  # they fit on screen: images
        if shown:
            assert seen[-1][2] == size and LEGIBLE_PX <= size <= 40 and len(shown) <= MAX_THUMBNAILS
            pixel = np.array(view.viewbox.viewPixelSize())
            cells = np.floor(view.coords[list(view.thumbnails.shown)] / (size * CELL * pixel))
            assert len(np.unique(cells, axis=0)) == len(shown)  # one image per cell
    first = next(k for k, (_, shown, _) in enumerate(seen) if shown)
    assert seen[first][1] >= min(seen[first][0], MAX_THUMBNAILS) // 4  # images fill the screen
    sizes = [size for _, shown, size in seen if shown]
    assert sizes == sorted(sizes) and sizes[0] < 40 == sizes[-1]  # small at first, then as chosen


def test_before_any_data_the_map_says_what_to_do(qtbot, digits):
    context = AppContext()
    p = shown_pca_panel(qtbot, context)
    assert p.view.empty_note.isVisible() and "open a data set" in p.view.empty_note.text()
    assert not p.legend_check.isEnabled() and not p.busy
    qtbot.mouseClick(p.view.viewport(), Qt.MouseButton.LeftButton, pos=p.view.viewport().rect().center())
    assert p.inspector.index == -1  # nothing to click on, nothing breaks
    context.set_data(digits, "digits")
    qtbot.waitUntil(lambda: not p.busy and p.session.embedding is not None, timeout=LONG_MS)
    assert not p.view.empty_note.isVisible() and p.legend_check.isEnabled()


def test_the_tool_buttons_fit_and_every_export_do_what_they_say(panel, digits, qtbot, tmp_path, monkeypatch):
    tools = {b.text(): b for b in panel.tool_buttons.buttons()}
    for name, key in (("Lasso", "lasso"), ("Rectangle", "rect"), ("Pan", "pan")):
        qtbot.mouseClick(tools[name], Qt.MouseButton.LeftButton)
        assert panel.view.viewbox.tool == key and [t for t, b in tools.items() if b.isChecked()] == [name]

    viewbox, coords = panel.view.viewbox, panel.view.coords

    def in_view() -> int:
        (x0, x1), (y0, y1) = viewbox.viewRange()
        return int(((coords[:, 0] >= x0) & (coords[:, 0] <= x1) & (coords[:, 1] >= y0) & (coords[:, 1] <= y1)).sum())
    viewbox.scaleBy((0.05, 0.05))
    assert in_view() < len(coords)
    qtbot.mouseClick(panel.fit_button, Qt.MouseButton.LeftButton)
    assert in_view() == len(coords)

    exports = {a.text(): a for a in panel.export_button.menu().actions()}
    answer = {}
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(answer["path"]), "")))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(answer["path"])))
    answer["path"] = tmp_path / "map.png"
    exports["Map as PNG…"].trigger()
    with Image.open(tmp_path / "map.png") as im:
        assert im.size == (panel.view.width(), panel.view.height())
    answer["path"] = tmp_path / "map.csv"
    exports["Coordinates as CSV…"].trigger()
    with open(tmp_path / "map.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == len(digits)
    answer["path"] = tmp_path / "projector"
    (tmp_path / "projector").mkdir()
    exports["Embedding Projector files…"].trigger()
    qtbot.waitUntil(lambda: (tmp_path / "projector" / "metadata.tsv").is_file() and running_tasks() == 0,
                    timeout=LONG_MS)
    assert np.loadtxt(tmp_path / "projector" / "tensors.tsv", delimiter="\t").shape == panel.session.embedding.codes.shape


def test_the_progress_says_what_it_does_from_the_start(qtbot, context):
    # A busy bar (no fraction yet, e.g. the first UMAP compiling for ~40 s) draws no text: the label beside it does.
    p = shown_pca_panel(qtbot, context)
    p.refresh(force=True)
    assert p.progress_box.isVisible() and p.progress.maximum() == 0
    assert p.progress_label.isVisible() and p.progress_label.text().endswith("…") and len(p.progress_label.text()) > 3
    qtbot.waitUntil(lambda: not p.busy, timeout=LONG_MS)


# --- a map of any size, and finding one's way (issue 19) ---------------------------------------
def type_search(qtbot, panel, text: str) -> None:
    panel.search_edit.clear()
    qtbot.keyClicks(panel.search_edit, text)
    qtbot.keyClick(panel.search_edit, Qt.Key.Key_Return)


def in_view_rect(view, index: int) -> bool:
    return view.viewbox.viewRect().contains(QPointF(*view.coords[index]))


def test_search_zooms_to_an_item_or_selects_a_class(panel, digits, qtbot):
    messages = []
    panel.context.status.connect(messages.append)
    type_search(qtbot, panel, "#1234")
    qtbot.waitUntil(lambda: panel.inspector.index == 1234, timeout=LONG_MS)
    assert in_view_rect(panel.view, 1234) and len(panel.view.in_view()) < 200 and panel.context.current_index == 1234
    assert messages[-1] == "Map: item #1234"
    type_search(qtbot, panel, "7")  # a class name
    sevens = np.flatnonzero(digits.labels == 7)
    assert panel.selection.tolist() == sevens.tolist() and "items of 7" in messages[-1]
    shown = np.mean([in_view_rect(panel.view, i) for i in sevens])
    assert shown >= 0.95 and len(panel.view.in_view()) < len(digits)  # zoomed to them
    type_search(qtbot, panel, "zebra")
    assert "nothing matches" in messages[-1] and "color" in panel.search_edit.styleSheet()


def test_cluster_names_are_readable_and_can_be_hidden(panel, digits, qtbot):
    view = panel.view
    shown = view.clusters.shown
    assert shown and all(name.split(" (")[0] in [str(i) for i in range(10)] for name in shown)
    rects = [item.sceneBoundingRect() for item in view.clusters.items if item.isVisible()]
    assert not any(a.intersects(b) for k, a in enumerate(rects) for b in rects[:k])  # none overlaps another
    heights = {round(r.height()) for r in rects}
    view.zoom_to(int(panel.session.clusters[0].typical), 60)
    qtbot.waitUntil(lambda: bool(view.clusters.shown), timeout=5000)
    assert {round(i.sceneBoundingRect().height()) for i in view.clusters.items if i.isVisible()} == heights  # same size
    view.fit()
    far = int(np.argmax(np.linalg.norm(view.coords - view.coords[0], axis=1)))
    view.set_clusters([(*view.coords[0], "big"), (*view.coords[0], "small"), (*view.coords[far], "far")])
    assert view.clusters.shown == ["big", "far"]  # the smaller of two overlapping names is left out
    qtbot.mouseClick(panel.names_check, Qt.MouseButton.LeftButton)
    assert view.clusters.shown == [] and panel.session.choices.cluster_names is False


def test_the_saved_view_reopens_with_the_map(panel, digits, digits_vae, qtbot):
    view, port = panel.view, panel.view.viewport()
    entry = view.mapFromScene(view.legend.mapToScene(view.legend.entry_rect(3).center()))
    qtbot.mouseClick(port, Qt.MouseButton.LeftButton, pos=entry)  # hide the 3s
    view.zoom_to(600, 300)
    qtbot.wait(50)
    qtbot.mouseClick(panel.tool_buttons.buttons()[1], Qt.MouseButton.LeftButton)  # rectangle
    w, h = port.width(), port.height()
    drag(qtbot, port, [QPoint(w // 3, h // 3), QPoint(2 * w // 3, 2 * h // 3)])
    selected, rect = panel.selection.copy(), view.viewbox.viewRect()
    assert len(selected) > 0 and not np.isin(selected, np.flatnonzero(digits.labels == 3)).any()
    panel.save_settings()  # what closing the window does
    context = AppContext()
    again = shown_pca_panel(qtbot, context)
    context.set_data(digits, "digits")
    context.set_model(digits_vae)
    qtbot.waitUntil(lambda: not again.busy and again.session.embedding is not None, timeout=LONG_MS)
    reopened = again.view.viewbox.viewRect()
    assert abs(reopened.center().x() - rect.center().x()) < 1e-3 * rect.width() + 1e-9
    assert abs(reopened.center().y() - rect.center().y()) < 1e-3 * rect.height() + 1e-9
    # the same zoom: the saved area fills the view in one direction (the other follows the widget's shape)
    scales = (reopened.width() / rect.width(), reopened.height() / rect.height())
    assert abs(min(scales) - 1) < 0.02 and max(scales) < 1.25
    assert again.view.hidden == {3} and again.view.legend.hidden == {3}
    assert again.selection.tolist() == selected.tolist() and "points selected" in again.selection_label.text()
    # another map (pixel space, without the model) has a view of its own
    context.set_model(None)
    qtbot.waitUntil(lambda: not again.busy and again.session.embedding.space == "pixels", timeout=LONG_MS)
    assert again.view.hidden == set()
    again.cancel()
    qtbot.waitUntil(lambda: running_tasks() == 0, timeout=LONG_MS)


def test_a_large_map_is_a_density_image_then_dots_then_images(qtbot):
    from gui.map_view import DOTS_MAX, MapView
    rng = np.random.default_rng(0)
    n = 120_000
    labels = rng.integers(0, 10, n)
    coords = (rng.uniform(-50, 50, (10, 2))[labels] + rng.normal(size=(n, 2)) * 3).astype(np.float32)
    coords[:2] = [[-5000, -5000], [5000, 5000]]  # two strays: the grid's cells are wide for the dense middle
    images = rng.integers(0, 256, (n, 1, 8, 8), np.uint8)
    view = MapView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    view.set_map(coords, images, labels, [str(i) for i in range(10)])
    qtbot.wait(20)
    assert view.density.isVisible() and not view.dots.isVisible() and not view.thumbnails.shown
    assert view.density.density.cell <= max(view.viewbox.viewPixelSize())  # about a pixel a cell
    grab = view.grab().toImage()
    centre = view.mapFromScene(view.viewbox.mapViewToScene(QPointF(0, 0)))
    colour = grab.pixelColor(centre)
    assert colour != grab.pixelColor(QPoint(2, 2)) and colour.red() + colour.green() + colour.blue() < 3 * 250
    view.zoom_to(5, DOTS_MAX * 2)  # past the finest density image: the rested view gets its own
    assert not view._sharp
    qtbot.waitUntil(lambda: view._sharp, timeout=5000)
    assert view.density.density.cell == pytest.approx(max(view.viewbox.viewPixelSize()), rel=0.05)
    chosen = np.flatnonzero(labels == 4)[:10_000]  # a large selection: a tint over its points, not rings
    view.set_selection(chosen)
    tint = view.selection_tint.density
    ix = ((coords[chosen, 0] - tint.origin[0]) / tint.cell).astype(int)
    iy = ((coords[chosen, 1] - tint.origin[1]) / tint.cell).astype(int)
    assert (tint.bgra[iy, ix, 3] == 255).all() and tint.bgra[..., 3].astype(bool).sum() <= len(chosen)
    assert not view.marks["selection"].isVisible()
    view.zoom_to(5, DOTS_MAX // 4)
    qtbot.waitUntil(lambda: view.dots.isVisible(), timeout=5000)
    assert not view.density.isVisible() and set(view.in_view()) <= set(view.dots_indices)
    view.zoom_to(5, 40)
    qtbot.waitUntil(lambda: len(view.thumbnails.shown) > 0, timeout=5000)
    entry = view.mapFromScene(view.legend.mapToScene(view.legend.entry_rect(labels[5]).center()))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=entry)  # hide item 5's class
    assert view.hidden == {labels[5]} and 5 not in view.thumbnails.shown and 5 not in view.in_view()
