"""Pick the compute device: CUDA, then Apple's MPS, then CPU, unless the user names one."""
from __future__ import annotations

import os

import torch

from .errors import LatentExplorerError


def available_devices() -> list[str]:
    names = ["cpu"]
    if torch.cuda.is_available():
        names[:0] = [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        names.insert(0, "mps")
    return names


def pick_device(preference: str = "auto") -> torch.device:
    """``auto`` -> the best available device; otherwise the named one, checked to exist."""
    if preference in (None, "", "auto"):
        return torch.device(available_devices()[0])
    if preference.split(":")[0] == "cuda" and preference != "cuda" and preference not in available_devices() \
            or preference == "cuda" and not torch.cuda.is_available():
        raise LatentExplorerError(f"device {preference!r} is not available here (available: "
                                  f"{', '.join(available_devices())})")
    if preference == "mps" and "mps" not in available_devices():
        raise LatentExplorerError(f"device 'mps' is not available here (available: {', '.join(available_devices())})")
    try:
        return torch.device(preference)
    except RuntimeError as exc:
        raise LatentExplorerError(f"unknown device {preference!r}: {exc}") from exc


def leave_a_core_for_the_ui() -> None:
    """Let torch use every core but one, so the UI thread stays responsive while training."""
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
