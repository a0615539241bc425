"""The map view's memory stays bounded however long the user zooms and pans: the thumbnail pixmaps it keeps for
reuse are held to a byte budget (a cache bounded by count alone kept 3,000 pixmaps, over 100 MB at 96 px, which
the seeded monkey saw as a leak during wheel zoom), and the idle items of the thumbnail pool hold none (each kept
the last image it showed: up to 1,000 more, out of the cache's reach)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

import gui.map_view
from gui.map_view import MapView, pixmap_bytes

KEPT_MB = 16  # the most the kept pixmaps may take (the budget is 12 MB)


def wheel(view: MapView, at: QPoint, delta: int) -> None:
    event = QWheelEvent(QPointF(at), QPointF(view.viewport().mapToGlobal(at)), QPoint(0, 0), QPoint(0, delta),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), event)
    QApplication.processEvents()
    view.update_detail()


def test_zooming_about_the_map_keeps_its_thumbnails_within_a_memory_budget(qtbot, monkeypatch):
    made = []  # the bytes of every thumbnail pixmap drawn
    draw = gui.map_view.thumbnail_pixmap
    monkeypatch.setattr(gui.map_view, "thumbnail_pixmap", lambda *a, **k: made.append(pixmap_bytes(p := draw(*a, **k))) or p)
    side = 50  # points on a regular grid, one unit apart: every zoom shows images, at sizes that grow as it deepens
    coords = np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1).reshape(-1, 2).astype(float)
    images = np.random.default_rng(0).integers(0, 255, (len(coords), 1, 28, 28), dtype=np.uint8)
    view = MapView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    view.set_map(coords, images, np.arange(len(coords)) % 10, [str(k) for k in range(10)], thumbnail_size=96)
    rng = np.random.default_rng(1)
    for _ in range(60):  # pan to a random spot, zoomed in to the largest images, then wheel in and out there
        x, y = rng.uniform(4, side - 4, 2)
        view.viewbox.setRange(xRange=(x - 4, x + 4), yRange=(y - 3, y + 3), padding=0)
        at = QPoint(int(rng.integers(100, 800)), int(rng.integers(100, 500)))
        for delta in rng.choice((-240, -120, 120, 240), 4):
            wheel(view, at, int(delta))
    layer = view.thumbnails  # what the cache keeps, and what its items (shown or idle in the pool) still hold
    held = {p.cacheKey(): pixmap_bytes(p) for p in layer._pixmaps.values()}
    held.update({item.pixmap().cacheKey(): pixmap_bytes(item.pixmap())
                 for item in [*layer._free, *layer.shown.values()] if not item.pixmap().isNull()})
    kept = sum(held.values())
    print(f"thumbnails drawn: {len(made)}, {sum(made) / 1e6:.0f} MB; kept {len(view.thumbnails._pixmaps)}, "
          f"{kept / 1e6:.1f} MB")
    assert sum(made) > 2 * KEPT_MB * 1e6  # (enough drawn to overflow the budget)
    assert kept <= KEPT_MB * 1e6
    assert view.thumbnails.shown  # (the zoom ended on images)


def test_images_out_of_view_leave_no_pixmap_with_the_pool(qtbot):
    view = MapView()
    qtbot.addWidget(view)
    coords = np.stack(np.meshgrid(np.arange(10), np.arange(10)), -1).reshape(-1, 2).astype(float)
    view.set_map(coords, np.zeros((100, 1, 28, 28), np.uint8), thumbnail_size=96)
    layer = view.thumbnails
    layer.show(range(100))
    layer._pixmaps.clear()  # as when the cache has let them go for others
    layer.show([])
    assert len(layer._free) >= 100 and all(item.pixmap().isNull() for item in layer._free)
