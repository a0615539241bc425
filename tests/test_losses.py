"""SSIM and perceptual reconstruction losses for the autoencoders; the perceptual loss never downloads in tests."""
from __future__ import annotations

import pytest
import torch
from torchvision.models.vgg import cfgs, make_layers

from core.errors import LatentExplorerError
from core.image.data import ImageData
from core.image.model_setup import OFFLINE_ENV, vgg_weights_path
from models import build_model
from models.losses import ssim
from zoo_helpers import train_tiny


@pytest.fixture
def offline_torch_home(tmp_path, monkeypatch):
    """An empty torch hub cache, downloads switched off."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv(OFFLINE_ENV, "1")
    return tmp_path / "torch"


def test_ssim_is_one_for_equal_images_and_falls_with_noise(digits):
    x = digits.float_images(slice(0, 16))
    torch.testing.assert_close(ssim(x, x), torch.ones(16))
    gen = torch.Generator().manual_seed(0)
    slightly = ssim(x, (x + 0.05 * torch.randn(x.shape, generator=gen)).clamp(0, 1))
    badly = ssim(x, (x + 0.3 * torch.randn(x.shape, generator=gen)).clamp(0, 1))
    assert (badly < slightly).all() and (slightly < 1).all()
    colour = torch.rand(2, 3, 32, 32, generator=gen)
    assert ssim(colour, colour.flip(-1)).shape == (2,)


@pytest.mark.parametrize("name", ["ae", "vae"])
def test_ssim_loss_is_logged_and_trained(digits, tmp_path, name):
    trainer, _ = train_tiny(name, digits, tmp_path, epochs=3, recon_loss="ssim")
    rows = [r for r in trainer.history if r["split"] == "train"]
    assert "ssim" in rows[0] and rows[-1]["ssim"] < rows[0]["ssim"]
    with pytest.raises(ValueError, match="recon_loss must be one of"):
        build_model(name, {"image_shape": [1, 8, 8], "mean": [0.5], "std": [0.5], "recon_loss": "l1"})


def test_perceptual_loss_without_weights_is_a_clear_error_and_downloads_nothing(digits, tmp_path, offline_torch_home):
    with pytest.raises(LatentExplorerError, match="VGG16 ImageNet weights .* downloads are off"):
        train_tiny("ae", digits, tmp_path / "run", epochs=1, recon_loss="perceptual")
    assert not vgg_weights_path().exists() and not (tmp_path / "run" / "checkpoint.pt").exists()


def test_perceptual_loss_trains_with_weights_from_the_hub_cache(digits, tmp_path, offline_torch_home):
    few = ImageData("few digits", digits.images[:150], digits.labels[:150])  # VGG16 is slow on a CPU
    torch.manual_seed(0)
    features = make_layers(cfgs["D"][:9])  # stand-in VGG16 weights (random): the file layout is what matters
    path = vgg_weights_path()
    path.parent.mkdir(parents=True)
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    trainer, _ = train_tiny("vae", few, tmp_path / "run", epochs=1, recon_loss="perceptual", recon_weight=0.5)
    row = trainer.history[-1]
    assert row["perceptual"] > 0 and row["loss"] > row["recon"] + row["kl"]

    path.write_bytes(b"not a checkpoint")
    with pytest.raises(LatentExplorerError, match="not usable VGG16 weights"):
        train_tiny("vae", few, tmp_path / "run2", epochs=1, recon_loss="perceptual")
