"""Checkpoints: model name + config + weights + optimiser state + training state + metrics history.

Written atomically (temporary file, then rename: a failed write leaves the old file and no temporary one,
and says why in one line) and loaded with ``weights_only=True``, so opening a file never runs code from
it. A model is built from a file within the memory of the weights the file actually holds (at most
``MAX_PARAMETERS``): a tiny file cannot make it allocate a huge model.
"""
from __future__ import annotations

import math
import os
import tempfile
import zipfile
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode

from models import GenerativeModel, SettingError, build_model, family, names

from ..errors import CheckpointError, LatentExplorerError, os_error_words
from .files import usual_mode

FORMAT = "latent-explorer/1"
MAX_PARAMETERS = 500_000_000  # weights and buffers of one model: 2 GB as float32
BUILD_SLACK = 1 << 24  # elements a model may make beyond twice its weights while it is built (initialisation)
ZIP_SLACK_BYTES = 1 << 20  # torch stores its entries uncompressed: declared sizes beyond the file's are a bomb


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
    """Write ``payload`` to ``path`` atomically (a temporary file, synced, then renamed over it). A failed
    write (disk full, no permission) is one line naming the file and the cause; no temporary file stays."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        usual_mode(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        cause = _os_error_behind(exc)
        if cause is not None:  # torch reports a failed write as 'unexpected pos ...': say what happened
            raise CheckpointError(f"{path}: could not write the checkpoint ({os_error_words(cause)}); "
                                  "the previous one is kept") from exc
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


def _os_error_behind(exc: BaseException) -> OSError | None:
    """The OSError that ``exc`` is, or was raised while handling (torch wraps a failed write)."""
    while exc is not None:
        if isinstance(exc, OSError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def read_checkpoint(path: Path) -> dict:
    """The checkpoint's contents (tensors on the CPU), checked to be ours."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    _refuse_zip_bomb(path)
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


def _refuse_zip_bomb(path: Path) -> None:
    """A file whose entries claim to unpack to more than the file holds (torch would allocate that much)."""
    try:
        with zipfile.ZipFile(path) as z:
            declared = sum(info.file_size for info in z.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip archive: torch.load says what it is
    if declared > path.stat().st_size + ZIP_SLACK_BYTES:
        raise CheckpointError(f"{path}: refused: its entries claim {declared:,} bytes in a file of "
                              f"{path.stat().st_size:,} (a compressed bomb, not a checkpoint torch wrote)")


class _OverBudget(Exception):
    pass


class _Allocations(TorchFunctionMode):
    """Counts the elements of the tensors made from a size while a model is built (``torch.empty`` and kin:
    how layers make their parameters) and refuses, before it is made, one that takes the count over ``budget``."""

    SIZED = (torch.empty, torch.zeros, torch.ones, torch.rand, torch.randn)

    def __init__(self, budget: int):
        super().__init__()
        self.budget, self.count = budget, 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self.SIZED or func is torch.full:
            whole = func is torch.full or (len(args) == 1 and not isinstance(args[0], int))
            size = kwargs["size"] if "size" in kwargs else args[0] if whole else args
            self.count += math.prod(int(n) for n in size)
            if self.count > self.budget:
                raise _OverBudget
        return func(*args, **kwargs)


def model_from(path: Path, payload: dict) -> GenerativeModel:
    """The model a checkpoint declares, with its weights. Built within the memory those weights justify: a
    file whose settings ask for a bigger model than the weights it holds (or for more than MAX_PARAMETERS)
    is refused before the memory is allocated."""
    spec, state_dict = payload["model"], payload["state_dict"]
    present = sum(v.numel() for v in state_dict.values() if isinstance(v, torch.Tensor))
    if present > MAX_PARAMETERS:
        raise CheckpointError(f"{path}: refused: it holds {present:,} weights (the limit is {MAX_PARAMETERS:,})")
    try:
        with _Allocations(2 * present + BUILD_SLACK):
            model = build_model(spec["name"], spec["config"])
        model.load_state_dict(state_dict)
    except _OverBudget:
        raise CheckpointError(f"{path}: refused: its settings make a {spec['name']} bigger than the {present:,} "
                              "weights it holds (stopped before allocating it)") from None
    except SettingError as exc:
        raise CheckpointError(f"{path}: model {spec['name']!r} cannot be built from its settings ({exc})") from exc
    except (ValueError, KeyError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"{path}: the weights do not fit model {spec['name']!r} "
                              f"({str(exc).splitlines()[0][:200]})") from exc
    return model


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> tuple[GenerativeModel, dict]:
    """Rebuild the model from a checkpoint; returns (model in eval mode, the whole payload)."""
    payload = read_checkpoint(path)
    return model_from(path, payload).to(device).eval(), payload


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

