"""What the panels share, in one place: the open data set, the current model with where it came from (its
checkpoint and the training state saved with it), named selections of items and the item in focus.
Listeners hear of every change; the GUI's ``AppContext`` turns them into Qt signals."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from models import GenerativeModel

from ..image.data import ImageData

#: what changed: "data", "model", "selections", "current_index"
Listener = Callable[[str], None]


@dataclass(frozen=True)
class ModelSource:
    """Where the workspace's model came from."""
    path: Path | None = None  # its checkpoint file; None: made in memory (a demo)
    train_state: dict = field(default_factory=dict)  # saved with it: epoch, config (TrainConfig's), dataset, …
    followed: bool = False  # the checkpoint of a run another process is training (File ▸ Follow a run folder)


class Workspace:
    def __init__(self):
        self.data: ImageData | None = None
        self.data_source: str = ""
        self.model: GenerativeModel | None = None  # an inference copy, never the one a worker trains
        self.model_source = ModelSource()
        self.selections: dict[str, np.ndarray] = {}
        self.current_index: int = -1
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _changed(self, what: str) -> None:
        for listener in list(self._listeners):
            listener(what)

    def set_data(self, data: ImageData, source: str) -> None:
        """A new data set: selections and the item in focus start over."""
        self.data, self.data_source = data, source
        self.selections.clear()
        self.current_index = -1
        self._changed("data")
        self._changed("selections")

    @property
    def checkpoint_path(self) -> Path | None:
        return self.model_source.path

    def set_model(self, model: GenerativeModel | None, checkpoint_path: Path | None = None, *,
                  train_state: dict | None = None, followed: bool = False) -> None:
        """The current model, from checkpoint ``checkpoint_path`` with its ``train_state`` (None: in memory)."""
        self.model = model
        self.model_source = ModelSource(Path(checkpoint_path) if checkpoint_path is not None else None,
                                        dict(train_state or {}), followed)
        self._changed("model")

    @property
    def model_fits_data(self) -> bool:
        """Whether the current model takes the open data set's images."""
        return (self.model is not None and self.data is not None
                and self.model.capabilities.modality == "image"
                and tuple(self.model.image_shape) == tuple(self.data.image_shape))

    def add_selection(self, name: str, indices) -> None:
        self.selections[name] = np.asarray(indices, dtype=np.int64)
        self._changed("selections")

    def remove_selection(self, name: str) -> None:
        if self.selections.pop(name, None) is not None:
            self._changed("selections")

    def set_current_index(self, index: int) -> None:
        self.current_index = int(index)
        self._changed("current_index")
