"""One recipe for a training run, whoever asks (the Setup panel, the command line, demos, benchmarks):
the family's checked settings from the user's values plus what the data decides (image shape, statistics,
a base model), a model that builds, and the ``Run``; or the run a checkpoint continues.

Every problem is a ``LatentExplorerError`` whose one line names the setting or file at fault.
"""
from __future__ import annotations

from pathlib import Path

import torch

from models import Family, SettingError, build_model, family, names

from ..audio.dataset import MixConfig
from ..audio.trainer import AUDIO_TRAIN_DEFAULTS, AudioRun
from ..errors import LatentExplorerError
from ..image.data import ImageData, load_dataset
from ..image.model_setup import base_model_setup
from ..image.trainer import Run
from ..train.checkpoint import model_from, read_checkpoint
from ..train.device import pick_device
from ..train.loop import TrainConfig

#: Training defaults of each modality where they differ from ``TrainConfig``'s.
TRAIN_DEFAULTS = {"image": {}, "audio": AUDIO_TRAIN_DEFAULTS}


def family_of(name: str) -> Family:
    try:
        return family(name)
    except SettingError as exc:
        raise LatentExplorerError(str(exc)) from None


def train_config(name: str, **given) -> TrainConfig:
    """The training settings for family ``name``: its modality's defaults and its learning rate, then the
    values ``given`` (None: not given); checked, and the device checked to exist."""
    fam = family_of(name)
    values = {"lr": fam.lr, **TRAIN_DEFAULTS[fam.capabilities.modality],
              **{k: v for k, v in given.items() if v is not None}}
    config = TrainConfig.from_dict(values)
    config.check()
    pick_device(config.device)
    return config


def checked_settings(name: str, values: dict, derived: dict | None = None) -> dict:
    """The config dict of family ``name`` for the user's ``values`` and what the data decides (``derived``):
    every setting checked against its declared type and range, and the model built once to be sure."""
    fam = family_of(name)
    specs = {s.name: s for s in fam.specs()}
    for key in values:
        if key in specs and specs[key].derived:
            raise LatentExplorerError(f"{name}: {key} is not a setting you choose ({specs[key].help})")
    derived = {k: v for k, v in (derived or {}).items() if k in specs and specs[k].derived}
    try:
        config = fam.settings({**values, **derived}).to_dict()
    except SettingError as exc:
        raise LatentExplorerError(str(exc)) from None
    try:
        build_model(name, config)
    except (ValueError, TypeError, RuntimeError) as exc:
        shape = f" for images {config['image_shape']}" if "image_shape" in config else ""
        raise LatentExplorerError(f"{name} cannot be built{shape}: {exc}") from exc
    return config


def data_settings(data: ImageData, train_idx) -> dict:
    """What the data decides of an image model: the image shape, and the per-channel statistics of the
    training images ``train_idx``."""
    mean, std = data.channel_stats(torch.as_tensor(train_idx))
    return {"image_shape": list(data.image_shape), "mean": mean, "std": std}


def image_config(name: str, data: ImageData, train_idx, derived: dict | None = None, **values) -> dict:
    """The checked config of family ``name`` on ``data`` with the user's setting ``values`` (and further
    ``derived`` settings, e.g. a base model's from ``model_setup.base_model_setup``)."""
    return checked_settings(name, values, {**data_settings(data, train_idx), **(derived or {})})


def needs_base(name: str) -> bool:
    """Whether the family works on a trained base model (latent diffusion), as it declares."""
    return family_of(name).needs_base


def image_run(name: str, values: dict, data: ImageData, source: str, config: TrainConfig,
              out_dir: Path | None = None, base: Path | None = None) -> Run:
    """A fresh image run of family ``name`` with the user's setting ``values`` on ``data``; ``base``: the
    checkpoint of the autoencoder or VAE a latent diffusion works on."""
    if family_of(name).capabilities.modality != "image":
        raise LatentExplorerError(f"{name} is not an image model")
    if needs_base(name) and base is None:
        raise LatentExplorerError(f"{name} works on a trained autoencoder or VAE: choose its checkpoint as the base")
    if base is not None and not needs_base(name):
        raise LatentExplorerError(f"a base model is for latent diffusion, not {name}")
    train_idx, _ = data.split(config.val_fraction, config.seed)
    derived, init_state = data_settings(data, train_idx), None
    if base is not None:
        base_values, init_state = base_model_setup(base, data.image_shape)
        derived.update(base_values)
    model_config = checked_settings(name, values, derived)
    return Run(name, model_config, data, source, config, out_dir, init_state=init_state)


def audio_run(name: str, values: dict, speech_dir: Path, noise_dir: Path | None, mix: MixConfig,
              config: TrainConfig, out_dir: Path | None = None) -> AudioRun:
    """A fresh audio-denoiser run of family ``name``: clean speech from ``speech_dir`` mixed with noise."""
    if family_of(name).capabilities.modality != "audio":
        raise LatentExplorerError(f"{name} is not an audio denoiser; audio models: "
                                  f"{', '.join(names('audio'))}")
    model_config = checked_settings(name, values)
    return AudioRun(name, model_config, Path(speech_dir).expanduser(),
                    Path(noise_dir).expanduser() if noise_dir else None, mix, config, out_dir)


def resumed_run(checkpoint: Path, out_dir: Path | None, image_size: int | None = None, **given) -> Run | AudioRun:
    """The run ``checkpoint`` came from, to continue; ``given`` overrides its training settings (e.g. more
    epochs; None: not given). Its data set is loaded again."""
    payload = read_checkpoint(checkpoint)
    model_from(checkpoint, payload)  # a file that declares more model than it holds is refused before training
    spec, state = payload["model"], payload.get("train_state") or {}
    fam = family_of(spec["name"])
    config = TrainConfig.from_dict({**state.get("config", {}), **{k: v for k, v in given.items() if v is not None}})
    config.check()
    pick_device(config.device)
    if state.get("epoch", 0) >= config.epochs:
        raise LatentExplorerError(f"{checkpoint}: already trained for {state['epoch']} epochs; pass --epochs "
                                  f"with a larger total to train on")
    model_config = spec["config"]
    try:
        fam.settings(model_config)
    except SettingError as exc:
        raise LatentExplorerError(f"{checkpoint}: {exc}") from None
    if fam.capabilities.modality == "audio":
        if "speech_dir" not in state:
            raise LatentExplorerError(f"{checkpoint}: the checkpoint does not say which speech folder it was trained on")
        noise = state.get("noise_dir")
        return AudioRun(spec["name"], model_config, Path(state["speech_dir"]), Path(noise) if noise else None,
                        MixConfig.from_dict(state.get("mix", {})), config, out_dir, resume=payload)
    source = state.get("dataset")
    if not source:
        raise LatentExplorerError(f"{checkpoint}: the checkpoint does not say which data set it was trained on")
    data = load_dataset(source, image_size=image_size)
    if list(data.image_shape) != list(model_config["image_shape"]):
        raise LatentExplorerError(f"{checkpoint}: trained on images {model_config['image_shape']}, "
                                  f"but {source} has {list(data.image_shape)}")
    return Run(spec["name"], model_config, data, source, config, out_dir, resume=payload)

