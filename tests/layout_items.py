"""Stale wrappers of Qt layout items.

PySide wraps a layout's items (``QWidgetItem``, ``QSpacerItem``) when Python asks for one (``itemAt``, ``takeAt``)
and, for ``addLayout`` of a filled layout, on its own; the wrappers stay alive with the layout. A layout item is no
QObject, so when Qt deletes it (a row removed, a widget deleted while in its layout) nobody tells PySide: the
wrapper stays registered at the item's address, and a Qt object made later at that address comes back to Python
as that wrapper ("'QWidgetItem' object has no attribute 'setEnabled'"), or crashes the process.
"""
from __future__ import annotations

import gc

import shiboken6
from PySide6.QtWidgets import QApplication, QLayout, QSpacerItem, QWidgetItem


def live_item_addresses() -> set[int]:
    """The addresses of the items of every layout in every top-level widget."""
    found = set()
    for top in QApplication.topLevelWidgets():
        for layout in top.findChildren(QLayout):
            for i in range(layout.count()):
                item = layout.itemAt(i)
                if item is not None:
                    found.add(shiboken6.getCppPointer(item)[0])
    return found


def stale_layout_items() -> list[str]:
    """Wrappers of layout items whose item is in no layout any more (the app's own collector sets long-lived
    objects aside, out of ``gc.get_objects``' sight: they are taken back in first)."""
    gc.unfreeze()
    wrappers = [o for o in gc.get_objects() if type(o) in (QWidgetItem, QSpacerItem) and shiboken6.isValid(o)]
    live = live_item_addresses()
    return [f"{type(o).__name__} at {shiboken6.getCppPointer(o)[0]:#x}" for o in wrappers
            if shiboken6.getCppPointer(o)[0] not in live]
