"""The Qt face of the shared ``core.sessions.Workspace``: its changes as signals, plus the status line; and of
the ``SetupSession`` (what the next run is: the Setup panel edits it, the Training panel's Start takes it).

Panels read the workspace through this object's properties and listen to its signals; none of them talks
to another directly.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from core.image.data import ImageData
from core.sessions import Workspace
from core.sessions.setup import SetupSession
from models import GenerativeModel


class AppContext(QObject):
    data_changed = Signal(object)  # ImageData
    model_changed = Signal(object)  # GenerativeModel or None
    selections_changed = Signal()  # the dict of named selections changed
    current_index_changed = Signal(int)  # the data item the user picked (map click, browser)
    status = Signal(str)  # a message for the status bar
    setup_changed = Signal(str)  # the setup session changed: "form", "data", "origin" or "run"

    def __init__(self, parent: QObject | None = None, workspace: Workspace | None = None):
        super().__init__(parent)
        self.workspace = workspace or Workspace()
        self.setup = SetupSession(self.workspace)  # (listens first: it has adopted a new model before the panels hear)
        self.workspace.listen(self._emit)
        self.setup.listen(self.setup_changed.emit)

    def _emit(self, what: str) -> None:
        ws = self.workspace
        if what == "data":
            self.data_changed.emit(ws.data)
        elif what == "model":
            self.model_changed.emit(ws.model)
        elif what == "selections":
            self.selections_changed.emit()
        elif what == "current_index":
            self.current_index_changed.emit(ws.current_index)

    # --- the workspace, read ---------------------------------------------------------------
    @property
    def data(self) -> ImageData | None:
        return self.workspace.data

    @property
    def data_source(self) -> str:
        return self.workspace.data_source

    @property
    def model(self) -> GenerativeModel | None:
        return self.workspace.model

    @property
    def checkpoint_path(self) -> Path | None:
        return self.workspace.checkpoint_path

    @property
    def selections(self) -> dict[str, np.ndarray]:
        return self.workspace.selections

    @property
    def current_index(self) -> int:
        return self.workspace.current_index

    # --- and changed --------------------------------------------------------------------------
    def set_data(self, data: ImageData, source: str) -> None:
        self.workspace.set_data(data, source)

    def set_model(self, model: GenerativeModel | None, checkpoint_path: Path | None = None, *,
                  train_state: dict | None = None, followed: bool = False) -> None:
        self.workspace.set_model(model, checkpoint_path, train_state=train_state, followed=followed)

    def add_selection(self, name: str, indices: np.ndarray) -> None:
        self.workspace.add_selection(name, indices)

    def remove_selection(self, name: str) -> None:
        self.workspace.remove_selection(name)

    def set_current_index(self, index: int) -> None:
        self.workspace.set_current_index(index)
