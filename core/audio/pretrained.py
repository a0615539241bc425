"""The denoiser that ships with the app (``resources/denoiser.pt``): how it was trained and how to open it.

``bench/train_default_denoiser.py`` trains it again from ``../shared/data`` (``DEFAULT_MODEL``,
``DEFAULT_MIX``, ``DEFAULT_TRAINING``, fixed seed) and writes ``slim_payload`` of the run's checkpoint here.
The speech it learned from is split by talker with ``DEFAULT_MIX``'s shares and the training seed, so a
benchmark that loads the same folder with the checkpoint's own ``mix`` and seed gets exactly the talkers
the model never heard (``SpeechNoiseData.test_speech``).
"""
from __future__ import annotations

from pathlib import Path

from models.audio_dae import AudioModel

from ..errors import LatentExplorerError
from ..train.checkpoint import load_for
from ..train.loop import TrainConfig
from .dataset import MixConfig

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
DEFAULT_MODEL = {"hidden": 96, "layers": 2, "df_bins": 64, "df_order": 3}
DEFAULT_MIX = MixConfig(segment_s=4.0, val_fraction=0.1, test_fraction=0.1, max_val=24, val_s=8.0)
DEFAULT_TRAINING = TrainConfig(epochs=70, batch_size=16, lr=2e-3, seed=0, device="cpu", log_every=40,
                               preview_interval_s=60.0)
#: What the shipped checkpoint keeps of its run's training state (enough to find its held-out talkers).
KEPT_STATE = ("config", "mix", "epoch", "step", "speech_dir", "noise_dir")


def default_denoiser_path() -> Path:
    """Where the shipped denoiser's checkpoint lies (it may be missing in a trimmed install)."""
    return RESOURCES / "denoiser.pt"


def load_default_denoiser() -> tuple[AudioModel, dict]:
    """(the shipped denoiser in eval mode on the CPU, its checkpoint payload); a missing file is one clear
    ``LatentExplorerError`` that says how to make it again."""
    path = default_denoiser_path()
    if not path.is_file():
        raise LatentExplorerError(f"the shipped denoiser {path} is missing: reinstall the app, or train it again with "
                                  "python bench/train_default_denoiser.py (or pass --model CKPT)")
    model, payload = load_for(path, "denoises")
    return model.eval(), payload


def slim_payload(payload: dict) -> dict:
    """A run's checkpoint payload without what only resuming needs (optimizer state, history, file lists)."""
    state = payload.get("train_state") or {}
    return {**payload, "optimizers": {}, "history": [], "train_state": {k: state[k] for k in KEPT_STATE if k in state}}
