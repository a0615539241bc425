"""pytest-qt tests of the morph panel (A/B, strip, scrub, attribute vectors, exports, the Faces demo) and the
data browser, driven through their real widgets."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

import core.sessions.morph
from core.image import latent
from core.image.imaging import to_uint8
from gui.data_browser import DataBrowser
from gui.morph_panel import MorphPanel
from image_helpers import shown, write_bomb

WAIT_MS = 60_000
DEMO_MS = 120_000


def file_dialogs(monkeypatch, open_path=None, save_path=None) -> None:
    """QFileDialog answers as if the user chose ``open_path`` / ``save_path``."""
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(open_path), "")))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(save_path), "")))


@pytest.fixture
def panel(qtbot, context, vae):
    widget = MorphPanel(context)
    qtbot.addWidget(widget)
    widget.resize(1000, 760)
    widget.show()
    context.set_model(vae)
    qtbot.waitUntil(lambda: widget.session.strip is not None and widget.scrub_view.has_image, timeout=WAIT_MS)
    return widget


def test_with_no_model_the_panel_says_what_to_do(qtbot, context):
    widget = MorphPanel(context)
    qtbot.addWidget(widget)
    widget.show()
    assert widget.info.text().startswith("No model yet: train one, open a checkpoint, or try the Faces demo")
    assert widget.strip_view.title.text() == "Pick A and B" and not widget.strip_view.has_image
    assert widget.pickers["A"].source.text() == "not picked"
    assert not widget.pickers["A"].file_button.isEnabled() and not widget.make_button.isEnabled()
    assert widget.demo_button.isVisible() and widget.demo_button.isEnabled()


def test_choosing_a_and_b_fills_the_strip(qtbot, panel, context, digits):
    context.set_current_index(11)
    qtbot.mouseClick(panel.pickers["A"].item_button, Qt.MouseButton.LeftButton)
    context.set_current_index(20)
    qtbot.mouseClick(panel.pickers["B"].item_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "item 11" in panel.strip_view.title.text() and "item 20" in panel.strip_view.title.text(),
                    timeout=WAIT_MS)
    assert panel.pickers["A"].source.text() == "item 11 · 1"
    strip = panel.session.strip
    assert strip.shape == (8, 1, 8, 8) and strip.dtype == np.uint8
    recon = to_uint8(latent.reconstruct(panel.session.model, digits.images[[11, 20]]))
    np.testing.assert_array_equal(strip[[0, -1]], recon)
    panel.steps_spin.setValue(5)
    panel.method_combo.setCurrentIndex(panel.method_combo.findData("spherical"))
    qtbot.waitUntil(lambda: len(panel.session.strip) == 5 and "spherical" in panel.strip_view.title.text(),
                    timeout=WAIT_MS)
    a, b = panel.session.codes
    np.testing.assert_array_equal(panel.session.strip, to_uint8(latent.decode_codes(
        panel.session.model, latent.interpolate(a, b, 5, "spherical"))))


def test_the_scrub_slider_morphs_the_large_image(qtbot, panel):
    panel.scrub_slider.setValue(0)
    qtbot.waitUntil(lambda: panel.scrub_view.title.text() == "Morph at t = 0.00", timeout=WAIT_MS)
    at_a = shown(panel.scrub_view)
    panel.scrub_slider.setValue(100)
    qtbot.waitUntil(lambda: panel.scrub_view.title.text() == "Morph at t = 1.00", timeout=WAIT_MS)
    assert not np.array_equal(shown(panel.scrub_view), at_a)


def test_b_from_an_image_file_and_a_from_the_data_browser(qtbot, panel, digits, tmp_path, monkeypatch):
    picture = (digits.images[7, 0].numpy().repeat(4, 0).repeat(4, 1))  # a 32x32 copy of item 7
    Image.fromarray(picture).save(tmp_path / "seven.png")
    file_dialogs(monkeypatch, open_path=tmp_path / "seven.png")
    qtbot.mouseClick(panel.pickers["B"].file_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "file seven.png" in panel.strip_view.title.text(), timeout=WAIT_MS)
    end = panel.session.ends["B"]
    assert end.image.shape == (1, 1, 8, 8)  # resized back to the model's 8x8: nearly the same picture
    assert np.abs(end.image.astype(int) - digits.images[7:8].numpy().astype(int)).mean() < 20

    def pick_in_browser():
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, DataBrowser)
        dialog.label_filter.setCurrentIndex(dialog.label_filter.findData(3))
        assert dialog.model.rowCount() == int(np.sum(digits.labels == 3))
        assert dialog.count.text() == f"{int(np.sum(digits.labels == 3))} images"
        dialog.select_item(99)
        assert dialog.chosen == 99 and dialog.label_filter.currentIndex() == 0
        dialog.accept()

    QTimer.singleShot(0, pick_in_browser)
    qtbot.mouseClick(panel.pickers["A"].browse_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "item 99" in panel.strip_view.title.text(), timeout=WAIT_MS)


@pytest.mark.parametrize("content, message", [(b"\x89PNG but not really", "not a readable image"),
                                              (None, "refused: over the limit of 64,000,000 pixels")])
def test_a_bad_image_file_gives_a_clear_message(qtbot, panel, tmp_path, monkeypatch, content, message):
    path = tmp_path / "bad.png"
    write_bomb(path) if content is None else path.write_bytes(content)
    end_before = panel.session.ends["B"]
    file_dialogs(monkeypatch, open_path=path)
    qtbot.mouseClick(panel.pickers["B"].file_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: message in panel.info.text(), timeout=WAIT_MS)
    assert "bad.png" in panel.info.text() and panel.session.ends["B"] is end_before
    assert panel.pickers["B"].source.text() == end_before.label


def test_applying_an_attribute_vector_changes_the_image(qtbot, panel, context, digits):
    context.add_selection("loopy", np.flatnonzero(digits.labels == 8))
    combo_a, combo_b = panel.group_combos["A"], panel.group_combos["B"]
    assert combo_a.itemText(0).startswith("selection: loopy")
    combo_a.setCurrentIndex(combo_a.findData("selection:loopy"))
    combo_b.setCurrentIndex(combo_b.findData("label:3"))
    qtbot.mouseClick(panel.make_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.vector_list.count() == 1 and panel.vector_view.has_image, timeout=WAIT_MS)
    vector = panel.session.vectors[0]
    assert vector.name == "loopy − 3" and panel.info.text().startswith("Made 'loopy − 3'")
    codes = latent.encode_data(panel.session.model, digits)
    np.testing.assert_allclose(vector.vector, codes[digits.labels == 8].mean(0) - codes[digits.labels == 3].mean(0),
                               atol=1e-4)
    panel.strength_slider.setValue(0)
    qtbot.waitUntil(lambda: "+0.00" in panel.vector_view.title.text(), timeout=WAIT_MS)
    np.testing.assert_array_equal(panel.session.applied[1], panel.session.applied[0])  # strength 0: A unchanged
    pixels = shown(panel.vector_view)
    panel.strength_slider.setValue(200)
    qtbot.waitUntil(lambda: "+2.00" in panel.vector_view.title.text(), timeout=WAIT_MS)
    assert not np.array_equal(shown(panel.vector_view), pixels)


def test_vectors_are_named_saved_and_loaded(qtbot, panel, tmp_path, monkeypatch):
    panel.add_vectors([latent.AttributeVector("first", np.ones(8, np.float32)),
                       latent.AttributeVector("second", -np.ones(8, np.float32))])
    panel.vector_list.item(0).setText("renamed")  # what an in-place edit does
    assert panel.session.vectors[0].name == "renamed"
    file_dialogs(monkeypatch, open_path=tmp_path / "vectors.json", save_path=tmp_path / "vectors.json")
    qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    assert (tmp_path / "vectors.json").is_file()
    panel.vector_list.setCurrentRow(0)
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    assert [v.name for v in panel.session.vectors] == ["second"]
    qtbot.mouseClick(panel.load_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.vector_list.count() == 3, timeout=WAIT_MS)
    assert [v.name for v in panel.session.vectors] == ["second", "renamed", "second"]
    assert "Loaded 2 vectors" in panel.info.text() and panel.vector_list.currentRow() == 2
    latent.save_vectors(tmp_path / "wide.json", [latent.AttributeVector("wide", np.ones(5, np.float32))])
    file_dialogs(monkeypatch, open_path=tmp_path / "wide.json")
    qtbot.mouseClick(panel.load_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "5 dimensions" in panel.info.text(), timeout=WAIT_MS)
    assert len(panel.session.vectors) == 3


def test_strip_exports_load_back(qtbot, panel, tmp_path, monkeypatch):
    for button, name in ((panel.save_png_button, "strip.png"), (panel.save_gif_button, "strip.gif")):
        file_dialogs(monkeypatch, save_path=tmp_path / name)
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    with Image.open(tmp_path / "strip.png") as im:
        w, h = im.size
        assert w > 7 * h
    with Image.open(tmp_path / "strip.gif") as im:
        assert im.n_frames == 2 * 8 - 2 and im.size[0] == im.size[1] >= 64
        im.seek(3)
        frame = np.asarray(im.convert("L")).astype(int)
    scale = frame.shape[0] // 8
    assert np.abs(frame[::scale, ::scale] - panel.session.strip[3, 0]).mean() < 6


@pytest.fixture
def quick_demo(monkeypatch, shared_data):
    monkeypatch.setattr(core.sessions.morph, "FACES_DEMO_S", 1.0)


def test_a_click_on_faces_demo_fills_the_panel_with_faces(qtbot, context, quick_demo):
    widget = MorphPanel(context)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.mouseClick(widget.demo_button, Qt.MouseButton.LeftButton)  # a real click sends clicked(checked=False)
    assert not widget.demo_button.isEnabled() and "Olivetti" in widget.info.text()
    qtbot.waitUntil(lambda: widget.session.strip is not None, timeout=DEMO_MS)
    assert widget.demo_button.isVisible() and widget.demo_button.isEnabled()  # still there with a model
    widget.demo_vector()
    qtbot.waitUntil(lambda: widget.vector_list.count() == 1, timeout=DEMO_MS)
    assert context.data.image_shape == (1, 64, 64) and len(context.data) == 400
    assert widget.session.strip.shape == (8, 1, 64, 64)
    assert widget.session.vectors[0].name == "person 1 − person 0"


def test_faces_demo_asks_before_it_replaces_a_model(qtbot, panel, context, quick_demo, monkeypatch):
    asked = []

    def answer(reply):
        def question(_parent, _title, text, *args, **kwargs):
            asked.append(text)
            return reply
        monkeypatch.setattr(QMessageBox, "question", staticmethod(question))

    answer(QMessageBox.StandardButton.No)
    qtbot.mouseClick(panel.demo_button, Qt.MouseButton.LeftButton)
    assert asked == ["The Faces demo replaces digits and the vae model with the Olivetti faces and a face VAE "
                     "trained now. Go on?"]
    assert panel.demo_button.isEnabled() and context.data.name == "digits"  # nothing happened
    answer(QMessageBox.StandardButton.Yes)
    qtbot.mouseClick(panel.demo_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: context.data.image_shape == (1, 64, 64) and panel.session.strip is not None,
                    timeout=DEMO_MS)
    assert len(asked) == 2 and "person" in panel.strip_view.title.text()


def test_the_data_browser_shows_filters_and_picks(qtbot, digits):
    dialog = DataBrowser(digits, "Pick A")
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.model.rowCount() == len(digits) and dialog.count.text() == "1,797 images"
    assert dialog.label_filter.count() == 11 and dialog.label_filter.itemText(4).startswith("3 (")
    pixmap = dialog.model.data(dialog.model.index(5), Qt.ItemDataRole.DecorationRole)
    assert pixmap.width() == 56
    assert dialog.model.data(dialog.model.index(5), Qt.ItemDataRole.ToolTipRole) == "item 5 · 5"
    dialog.label_filter.setCurrentIndex(dialog.label_filter.findData(7))
    assert dialog.chosen == int(np.flatnonzero(digits.labels == 7)[0])
    where = dialog.view.visualRect(dialog.model.index(1)).center()
    with qtbot.waitSignal(dialog.accepted, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.view.viewport(), Qt.MouseButton.LeftButton, pos=where)  # a double-click's press
        qtbot.mouseDClick(dialog.view.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert dialog.chosen == int(np.flatnonzero(digits.labels == 7)[1])


def test_a_typed_step_count_out_of_range_is_named_not_replaced(qtbot, context):
    panel = MorphPanel(context)
    qtbot.addWidget(panel)
    panel.show()
    panel.steps_spin.setFocus()
    panel.steps_spin.selectAll()
    qtbot.keyClicks(panel.steps_spin, "1")
    qtbot.keyClick(panel.steps_spin, Qt.Key.Key_Tab)
    assert panel.steps_spin.value() == 1 and "out of range" in panel.steps_spin.toolTip()
    assert panel.session.steps != 1  # not drawn with it


def test_a_bad_file_message_goes_once_a_valid_image_is_picked(qtbot, panel, digits, tmp_path, monkeypatch):
    (tmp_path / "garbage.png").write_bytes(b"\x89PNG but not really")
    file_dialogs(monkeypatch, open_path=tmp_path / "garbage.png")
    qtbot.mouseClick(panel.pickers["B"].file_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "garbage.png: not a readable image" in panel.info.text(), timeout=WAIT_MS)
    Image.fromarray(digits.images[7, 0].numpy()).save(tmp_path / "seven.png")
    file_dialogs(monkeypatch, open_path=tmp_path / "seven.png")
    qtbot.mouseClick(panel.pickers["B"].file_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "file seven.png" in panel.strip_view.title.text(), timeout=WAIT_MS)
    assert "garbage.png" not in panel.info.text() and panel.info.text() == panel.session.describe()


def test_a_vector_of_another_models_codes_is_marked_and_says_why(qtbot, panel, context, digits):
    from models import build_model
    combo_a, combo_b = panel.group_combos["A"], panel.group_combos["B"]
    combo_a.setCurrentIndex(combo_a.findData("label:1"))
    combo_b.setCurrentIndex(combo_b.findData("label:0"))
    qtbot.mouseClick(panel.make_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.vector_list.count() == 1 and panel.vector_view.has_image, timeout=WAIT_MS)
    wider = build_model("vae", {"image_shape": [1, 8, 8], "mean": [0.3], "std": [0.3], "latent_dim": 16})
    context.set_model(wider)  # as the Faces demo swaps in its own model
    qtbot.waitUntil(lambda: panel.session.ends["A"] is not None and len(panel.session.ends["A"].code) == 16,
                    timeout=WAIT_MS)
    item = panel.vector_list.item(0)
    assert "not for this model" in item.text() and "8-d codes; this model's codes are 16-d" in item.toolTip()
    assert item.font().italic() and not item.flags() & Qt.ItemFlag.ItemIsEditable
    rect = panel.vector_list.visualItemRect(item)
    qtbot.mouseClick(panel.vector_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: "cannot apply" in panel.vector_view.title.text(), timeout=WAIT_MS)
    assert not panel.vector_view.has_image


def test_save_dialogs_open_in_the_documents_or_the_last_folder_not_the_source_folder(qtbot, panel, tmp_path,
                                                                                      monkeypatch):
    from pathlib import Path
    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda _parent, _caption, start, _filter: asked.append(start) or
                                     (str(tmp_path / "saved" / Path(start).name), "")))
    (tmp_path / "saved").mkdir()
    qtbot.mouseClick(panel.save_png_button, Qt.MouseButton.LeftButton)
    first = Path(asked[0])
    assert first.is_absolute() and first.name == "morph.png" and first.parent != Path.cwd()
    assert (tmp_path / "saved" / "morph.png").is_file()
    qtbot.mouseClick(panel.save_gif_button, Qt.MouseButton.LeftButton)
    assert Path(asked[1]) == tmp_path / "saved" / "morph.gif"  # where the user saved last


def test_the_attribute_result_shows_whole_at_the_default_window_size(qtbot, window, vae):
    panel = window.panels["morph"]
    window.docks["morph"].raise_()
    assert (window.width(), window.height()) == (1400, 860)
    window.context.set_model(vae)
    qtbot.waitUntil(lambda: panel.session.strip is not None, timeout=WAIT_MS)
    panel.group_combos["A"].setCurrentIndex(panel.group_combos["A"].findData("label:1"))
    panel.group_combos["B"].setCurrentIndex(panel.group_combos["B"].findData("label:0"))
    qtbot.mouseClick(panel.make_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.vector_view.has_image, timeout=WAIT_MS)
    view = panel.vector_view
    bottom_right = view.mapTo(panel, view.rect().bottomRight())
    assert bottom_right.y() <= panel.height() and bottom_right.x() <= panel.width()  # not cut off by the dock
    assert view.height() >= view.minimumHeight()


def test_each_data_browser_is_deleted_once_closed(qtbot, panel):
    """A browser is a child of the panel: kept alive (with its thumbnails) after it closes unless deleted, which
    the seeded monkey saw as memory growing with every Browse… click."""
    for _ in range(3):
        QTimer.singleShot(0, lambda: QApplication.activeModalWidget().reject())
        qtbot.mouseClick(panel.pickers["A"].browse_button, Qt.MouseButton.LeftButton)
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert panel.findChildren(DataBrowser) == []
