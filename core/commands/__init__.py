"""Headless sub-commands of ``python main.py``: each module has ``add_parser(subparsers)`` and ``run(args)``."""
from . import denoise, embed, sample, train

COMMANDS = {"train": train, "embed": embed, "sample": sample, "denoise": denoise}
