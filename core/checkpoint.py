"""Checkpoints: model name + config + weights + optimiser state + training state + metrics history.

Written atomically (temporary file, then rename) and loaded with ``weights_only=True``, so opening a
file never runs code from it.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from models import GenerativeModel, build_model, family, names

from .errors import CheckpointError, LatentExplorerError

FORMAT = "latent-explorer/1"


def save_checkpoint(path: Path, model: GenerativeModel, optimizers: dict | None = None, train_state: dict | None = None,
                    history: list[dict] | None = None) -> Path:
    return write_checkpoint(path, checkpoint_payload(model, optimizers, train_state, history))


def checkpoint_payload(model: GenerativeModel, optimizers: dict | None = None, train_state: dict | None = None,
                       history: list[dict] | None = None) -> dict:
    """What a checkpoint holds, every tensor copied to the CPU: training may go on while it is written."""
    return {
        "format": FORMAT,
        "model": {"name": model.name, "config": model.config},
        "state_dict": _on_cpu(model.state_dict()),
        "optimizers": {k: _on_cpu(o.state_dict()) for k, o in (optimizers or {}).items()},
        "train_state": train_state or {},
        "history": list(history or []),
    }


def write_checkpoint(path: Path, payload: dict) -> Path:
    """Write ``payload`` to ``path`` atomically (a temporary file, synced, then renamed over it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _on_cpu(value):
    """A copy of a state dict with every tensor on the CPU (the live one keeps changing)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _on_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_on_cpu(v) for v in value)
    return value


def read_checkpoint(path: Path) -> dict:
    """The checkpoint's contents (tensors on the CPU), checked to be ours."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # damaged, another kind of file, or objects weights_only refuses to unpickle
        raise CheckpointError(f"{path}: not a readable Latent Explorer checkpoint (damaged, another kind of file, or "
                              f"holding objects other than tensors, refused for safety; {type(exc).__name__})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a Latent Explorer checkpoint (expected format {FORMAT})")
    spec = payload.get("model")
    if not (isinstance(spec, dict) and isinstance(spec.get("config"), dict) and "name" in spec
            and isinstance(payload.get("state_dict"), dict)):
        raise CheckpointError(f"{path}: incomplete checkpoint (no model name, config or weights)")
    return payload


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> tuple[GenerativeModel, dict]:
    """Rebuild the model from a checkpoint; returns (model in eval mode, the whole payload)."""
    payload = read_checkpoint(path)
    spec = payload["model"]
    try:
        model = build_model(spec["name"], spec["config"])
        model.load_state_dict(payload["state_dict"])
    except (ValueError, KeyError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"{path}: the weights do not fit model {spec['name']!r} "
                              f"({str(exc).splitlines()[0][:200]})") from exc
    return model.to(device).eval(), payload


#: what a command needs -> what a model without it lacks
NEEDS = {"samples": "have no prior to sample from", "encodes": "have no encoder that maps images to codes",
         "denoises": "do not denoise audio"}


def load_for(path: Path, need: str, device: torch.device | str = "cpu") -> tuple[GenerativeModel, dict]:
    """(model, payload) of checkpoint ``path``, if its model can do ``need`` (a key of ``NEEDS``); else one
    line that says what the model is and what to do instead."""
    model, payload = load_checkpoint(path, device)
    caps = model.capabilities
    if need == "denoises":
        if caps.modality != "audio":
            raise LatentExplorerError(f"{path}: a {model.name} model is not an audio denoiser (audio models: "
                                      f"{', '.join(names('audio'))}); for images use embed or sample")
        return model, payload
    if caps.modality == "audio":
        raise LatentExplorerError(f"{path}: {model.name} is an audio denoiser: it has no images to sample, encode "
                                  f"or map; clean a recording with: python main.py denoise IN.wav OUT.wav --model {path}")
    if not getattr(caps, need):
        able = [n for n in names("image") if getattr(family(n).capabilities, need)]
        raise LatentExplorerError(f"{path}: {model.name} models {NEEDS[need]}; families that can: {', '.join(able)}")
    return model, payload

