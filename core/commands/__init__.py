"""Headless sub-commands of ``python main.py``. Each module ``core.commands.<name>`` has
``add_arguments(parser)`` and ``run(args)``; it is imported only when its command runs (or its help is
asked for), so ``python main.py --help`` starts no heavy library."""
from __future__ import annotations

import importlib

#: command -> one line of help
COMMANDS = {
    "train": "train a model headless (image families and audio denoisers)",
    "embed": "map a data set's latent codes to the plane (CSV)",
    "sample": "draw samples from a trained model",
    "denoise": "denoise a recording with a trained audio denoiser",
    "families": "list the model families, what they can do and their settings",
}


def load(name: str):
    return importlib.import_module(f"{__name__}.{name}")
