"""Stale wrappers of Qt layout items.

PySide wraps a layout's items (``QWidgetItem``, ``QSpacerItem``) when Python asks for one (``itemAt``, ``takeAt``)
and, for ``addLayout`` of a filled layout, on its own; the wrappers stay alive with the layout. A layout item is no
QObject, so when Qt deletes it (a row removed, a widget deleted while in its layout) nobody tells PySide: the
wrapper stays registered at the item's address, and a Qt object made later at that address comes back to Python
as that wrapper ("'QWidgetItem' object has no attribute 'setEnabled'"), or crashes the process.

The check itself asks for items (``itemAt``), so it only looks into layouts made in Python under ``root``: their
wrappers are told when they go. Asked of a layout Qt made (a main window's, a dock's), it would leave wrappers that
go stale when that window is deleted.
"""
from __future__ import annotations

import gc

import shiboken6
from PySide6.QtWidgets import QLayout, QSpacerItem, QWidget, QWidgetItem


def stale_layout_items(root: QWidget) -> list[str]:
    """Wrappers of items of ``root``'s layouts whose item is in no layout any more (the app's own collector sets
    long-lived objects aside, out of ``gc.get_objects``' sight: they are taken back in first)."""
    layouts = [lay for lay in root.findChildren(QLayout) if shiboken6.createdByPython(lay)]
    live = {shiboken6.getCppPointer(item)[0] for lay in layouts for item in map(lay.itemAt, range(lay.count()))
            if item is not None}
    gc.unfreeze()
    ids = {id(lay) for lay in layouts}
    wrappers = [o for o in gc.get_objects() if type(o) in (QWidgetItem, QSpacerItem) and shiboken6.isValid(o)
                and any(id(r) in ids for r in gc.get_referrers(o))]
    return [f"{type(o).__name__} at {shiboken6.getCppPointer(o)[0]:#x}" for o in wrappers
            if shiboken6.getCppPointer(o)[0] not in live]
