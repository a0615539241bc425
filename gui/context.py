"""The state the panels share: the open data set, the current model, named selections.

Panels read it and listen to its signals; none of them talks to another directly. The model held
here is an inference copy on the CPU (or the chosen device), loaded from a checkpoint, never the one
a worker is training.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from core.data import ImageData
from models import GenerativeModel


class AppContext(QObject):
    data_changed = Signal(object)  # ImageData
    model_changed = Signal(object)  # GenerativeModel or None
    selections_changed = Signal()  # the dict of named selections changed
    current_index_changed = Signal(int)  # the data item the user picked (map click, browser)
    status = Signal(str)  # a message for the status bar

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.data: ImageData | None = None
        self.data_source: str = ""
        self.model: GenerativeModel | None = None
        self.checkpoint_path: Path | None = None
        self.selections: dict[str, np.ndarray] = {}
        self.current_index: int = -1

    def set_data(self, data: ImageData, source: str) -> None:
        self.data, self.data_source = data, source
        self.selections.clear()
        self.current_index = -1
        self.data_changed.emit(data)
        self.selections_changed.emit()

    def set_model(self, model: GenerativeModel | None, checkpoint_path: Path | None = None) -> None:
        self.model, self.checkpoint_path = model, checkpoint_path
        self.model_changed.emit(model)

    def add_selection(self, name: str, indices: np.ndarray) -> None:
        self.selections[name] = np.asarray(indices, dtype=np.int64)
        self.selections_changed.emit()

    def remove_selection(self, name: str) -> None:
        if self.selections.pop(name, None) is not None:
            self.selections_changed.emit()

    def set_current_index(self, index: int) -> None:
        self.current_index = int(index)
        self.current_index_changed.emit(self.current_index)
