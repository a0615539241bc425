"""The ``python main.py train …`` arguments that train, in a process (or ranks) of its own, the very run the
Setup session's Start would build here: the same settings, data, seed and folder choice."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from .setup import CONTINUE, SetupSession


def train_argv(setup: SetupSession, new_folder: Callable[[str, str], Path]) -> tuple[list[str], Path]:
    """The arguments and the run folder (``new_folder(model, data source)`` names a fresh one);
    LatentExplorerError naming every problem when the form is not valid."""
    setup.check_start()
    common = ["--epochs", str(setup.epochs), "--batch-size", str(setup.batch_size), "--lr", repr(setup.lr),
              "--lr-schedule", setup.lr_schedule, "--device", setup.device]
    if setup.plan_now == CONTINUE:
        folder = setup.continue_folder(new_folder)
        return ["train", "--resume", str(setup.origin.path), *common, "--out", str(folder)], folder
    ws = setup.workspace
    folder = new_folder(setup.family, ws.data_source)
    argv = ["train", "--model", setup.family, "--dataset", ws.data_source, *common, "--out", str(folder)]
    for name, value in setup.model_values().items():
        argv += ["--set", f"{name}={json.dumps(value)}"]
    if setup.needs_base:
        argv += ["--base", setup.base]
    return argv, folder
