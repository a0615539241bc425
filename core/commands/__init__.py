"""Headless sub-commands of ``python main.py``: each module has ``add_parser(subparsers)`` and ``run(args)``."""
from . import train

COMMANDS = {"train": train}
