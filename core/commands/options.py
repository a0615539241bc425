"""Argument types for the commands' numeric and folder options: a value out of its range is a one-line usage
error naming the option (``error: argument --n: must be a whole number from 1 to 100,000, got '0'``)."""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Callable


def whole(low: int, high: int) -> Callable[[str], int]:
    """A whole number from ``low`` to ``high``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low:,} to {high:,}, got {text!r}")
        return value
    return parse


def number(low: float, high: float) -> Callable[[str], float]:
    """A finite number from ``low`` to ``high``."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"must be a number from {low:g} to {high:g}, got {text!r}")
        return value
    return parse


def folder(text: str) -> Path:
    """A folder path that names something (an empty one would mean the current folder by accident)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("give a folder (an empty path would write into the current folder)")
    return Path(text).expanduser()
