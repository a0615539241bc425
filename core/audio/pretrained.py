"""SHIM until branch a18 is merged (it ships the real module and ``resources/denoiser.pt``): delete this file
then. Where the shipped denoiser's checkpoint lies."""
from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def default_denoiser_path() -> Path:
    """Where the shipped denoiser's checkpoint lies (it may be missing in a trimmed install)."""
    return RESOURCES / "denoiser.pt"
