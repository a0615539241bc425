"""Model settings that need files: a latent diffusion's base checkpoint, the perceptual loss's VGG16 weights."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from models.latent_diffusion import can_be_base
from models.losses import install_vgg

from ..errors import LatentExplorerError
from ..train.checkpoint import load_checkpoint
VGG_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"  # torchvision's VGG16_Weights.IMAGENET1K_V1
OFFLINE_ENV = "LATENT_EXPLORER_OFFLINE"  # when set, nothing is downloaded (tests, air-gapped machines)


def base_model_setup(base_checkpoint: Path, image_shape: tuple[int, int, int]) -> tuple[dict, dict]:
    """(model-config overrides, initial weights) for ``latent-diffusion`` on ``base_checkpoint``'s model.

    The recipe (``core.runs.recipe.image_run``) puts the overrides into the model's settings and the weights into
    ``Run.init_state``; the base model's config and weights then live inside the new model, so its checkpoints
    stand on their own.
    """
    model, payload = load_checkpoint(Path(base_checkpoint))
    spec = payload["model"]
    if not can_be_base(model):
        raise LatentExplorerError(f"{base_checkpoint}: latent diffusion needs a trained autoencoder or VAE as its "
                                  f"base, this is a {spec['name']!r} model")
    if list(spec["config"].get("image_shape", [])) != list(image_shape):
        raise LatentExplorerError(f"{base_checkpoint}: the base model was trained on images "
                                  f"{spec['config'].get('image_shape')}, this data set has {list(image_shape)}")
    return {"base": {"name": spec["name"], "config": spec["config"]}}, \
        {f"base.{k}": v for k, v in payload["state_dict"].items()}


def vgg_weights_path() -> Path:
    """Where torchvision keeps the VGG16 weights: torch's hub cache (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(VGG_URL).name


def load_pretrained(model_config: dict) -> None:
    """Load the pretrained networks a model's settings need (for now: VGG16 for ``recon_loss: perceptual``),
    downloading them to torch's hub cache on first use unless ``$LATENT_EXPLORER_OFFLINE`` is set."""
    if model_config.get("recon_loss") != "perceptual":
        return
    path = vgg_weights_path()
    if not path.is_file():
        if os.environ.get(OFFLINE_ENV):
            raise LatentExplorerError(f"the perceptual loss needs torchvision's VGG16 ImageNet weights ({path.name}) "
                                      f"in {path.parent}, and downloads are off ({OFFLINE_ENV} is set); put the file "
                                      "there, or choose the mse or ssim reconstruction loss")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(VGG_URL, str(path), progress=False)
        except Exception as exc:  # offline: URLError, OSError, ...
            raise LatentExplorerError(f"the perceptual loss needs torchvision's VGG16 ImageNet weights: {path.name} "
                                      f"is not in {path.parent} and could not be downloaded ({type(exc).__name__}); "
                                      "put the file there, or choose the mse or ssim reconstruction loss") from exc
    try:
        install_vgg(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as exc:  # damaged or not VGG16
        raise LatentExplorerError(f"{path}: not usable VGG16 weights ({type(exc).__name__}); delete the file to "
                                  "download it again") from exc
