"""Pick the compute device: CUDA, then Apple's MPS, then CPU, unless the user names one."""
from __future__ import annotations

import os

import torch

from ..errors import LatentExplorerError


def available_devices() -> list[str]:
    names = ["cpu"]
    if torch.cuda.is_available():
        names[:0] = [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        names.insert(0, "mps")
    return names


def pick_device(preference: str | None = "auto") -> torch.device:
    """``auto`` -> the best available device; otherwise the named one (``cpu``, ``cuda``, ``cuda:1``, ``mps``),
    checked to exist here."""
    available = available_devices()
    if preference in (None, "", "auto"):
        return torch.device(available[0])
    try:
        device = torch.device(preference)
    except RuntimeError as exc:
        raise LatentExplorerError(f"unknown device {preference!r}; use auto, {', '.join(available)}") from exc
    known = device.type == "cpu" or str(device) in available or (
        device.index is None and any(a.startswith(f"{device.type}:") for a in available))
    if not known:
        raise LatentExplorerError(f"device {preference!r} is not available here (available: {', '.join(available)})")
    return device


def training_threads() -> int:
    """Torch threads for a training thread: every core but one, so the UI thread stays responsive and no
    multi-threaded op waits on a core that another process holds (that can make training 10x slower);
    shared out between the ranks of a distributed run on this machine (``LOCAL_WORLD_SIZE``)."""
    ranks_here = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, ((os.cpu_count() or 2) - 1) // ranks_here)


def leave_a_core_for_the_ui() -> None:
    """Let torch use ``training_threads()`` in the calling (training) thread."""
    torch.set_num_threads(training_threads())
