"""The panels of the main window. Each entry: key (for ``--panel``), dock title, dock area, factory.

A factory takes the ``AppContext`` (and the main window's ``TrainingBridge``) and returns a QWidget.
To add a panel, add one entry here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget


@dataclass(frozen=True)
class PanelSpec:
    key: str
    title: str
    area: Qt.DockWidgetArea
    factory: Callable[..., QWidget]  # factory(context, bridge) -> QWidget


def panel_specs() -> list[PanelSpec]:
    from .audio.panel import AudioPanel
    from .compare_panel import ComparePanel
    from .latent_panel import LatentPanel
    from .map_panel import MapPanel
    from .morph_panel import MorphPanel
    from .setup_panel import SetupPanel
    from .training_panel import TrainingPanel
    left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
    return [
        PanelSpec("setup", "Setup", left, SetupPanel),
        PanelSpec("training", "Training", right, TrainingPanel),
        PanelSpec("latent", "Latent", right, LatentPanel),
        PanelSpec("map", "Map", right, MapPanel),
        PanelSpec("morph", "Morph", right, MorphPanel),
        PanelSpec("compare", "Compare", right, ComparePanel),
        PanelSpec("audio", "Audio", right, AudioPanel),
    ]
