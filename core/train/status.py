"""A run folder's ``status.json``: the training process (rank 0) rewrites it atomically when the run's state
changes: ``running`` (with its process id and host), ``finished``, ``stopped`` or ``failed`` (with the
one-line message). ``core.runs.listing`` reads it for the runs list."""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

STATUS_FILE = "status.json"


def write_status(folder: Path, state: str, **fields) -> None:
    """Record ``state`` (and ``fields``) in ``folder/status.json``, keeping what earlier calls recorded."""
    path = Path(folder) / STATUS_FILE
    status = {**read_status(folder), **fields, "state": state, "pid": os.getpid(), "host": socket.gethostname(),
              "updated": time.time()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{STATUS_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(status))
    os.replace(tmp, path)


def read_status(folder: Path) -> dict:
    try:
        status = json.loads((Path(folder) / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return status if isinstance(status, dict) else {}
