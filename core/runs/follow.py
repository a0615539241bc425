"""Follow a run that another process writes (``python main.py train``; later a torchrun job's rank 0)
from its files alone: the rows appended to ``metrics.jsonl``, each rewrite of ``checkpoint.pt``
(written atomically, so always whole), and its end: the writer's lock on the run folder is gone."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from models import GenerativeModel

from ..errors import DataError
from ..image.data import ImageData
from ..image.trainer import PREVIEW_COUNT, preview_grids
from ..train.folder import RunFolder
from ..train.metrics import MetricsReader


class RunFollower:
    """Polls a run folder. It survives whatever the writer does: a half-written last line waits, a line that
    is not a JSON object is skipped (``skipped`` counts them), a run restarted or resumed into the folder
    (a new ``metrics.jsonl``) shows as a restart, a file that vanishes for a while is waited for."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.metrics_path = self.run_dir / "metrics.jsonl"
        self.checkpoint_path = self.run_dir / "checkpoint.pt"
        if not (self.metrics_path.is_file() or self.checkpoint_path.is_file()):
            raise DataError(f"{self.run_dir}: not a run folder (it has no metrics.jsonl or checkpoint.pt)")
        self._reader = MetricsReader(self.metrics_path)
        self._stamp: tuple | None = None
        self._progress = 0.0
        self.ended = ""  # once the writer is gone and everything is read: 'finished' or 'stopped'

    @property
    def skipped(self) -> int:
        """Lines of ``metrics.jsonl`` that were not JSON objects, so far."""
        return self._reader.skipped

    def poll(self) -> tuple[list[dict], Path | None, bool]:
        """The metrics rows written since the last call, the checkpoint's path if it is new or rewritten,
        and whether the log started over (the run was resumed or restarted: its rows come again). Sets
        ``ended`` when the writer had let go of the run folder before this read (so nothing more will come):
        'finished' if the run reached its last step, else 'stopped'."""
        restarts = self._reader.restarts
        writing = RunFolder(self.run_dir).state().kind == "owned"
        rows = self._reader.read_new()
        self._progress = next((r["progress"] for r in reversed(rows) if isinstance(r.get("progress"), (int, float))),
                              self._progress)  # (a resumed run's log starts with its history: the last row tells)
        finished = self._progress >= 1.0 - 1e-9
        try:
            st = self.checkpoint_path.stat()
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        changed, self._stamp = stamp is not None and stamp != self._stamp, stamp
        if not writing:
            self.ended = "finished" if finished else "stopped"
        return rows, self.checkpoint_path if changed else None, self._reader.restarts > restarts

    def close(self) -> None:
        self._reader.close()


def preview_of(model: GenerativeModel, data: ImageData) -> dict[str, np.ndarray]:
    """The Training panel's image grids for a followed run's model, on the open data set's first validation
    images (a private eval copy of the model: other panels may be using it)."""
    model = copy.deepcopy(model).eval()
    x = data.float_images(data.split()[1][:PREVIEW_COUNT]).to(model.device)
    return preview_grids(model, x, seed=0)
