"""Model shapes for every registered family, and the VAE's ELBO pieces against closed forms."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from models import SettingError, build_model, family, names
from models.base import gaussian_kl

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32), (1, 64, 64)]


def config(name: str, shape: tuple[int, int, int], **overrides) -> dict:
    """Family ``name``'s tiny settings on images of ``shape``, with what a data set would decide."""
    c = shape[0]
    declared = {s.name for s in family(name).specs()}
    derived = {"image_shape": list(shape), "mean": [0.4] * c, "std": [0.3] * c}
    if "base" in declared:
        derived["base"] = {"name": "vae", "config": config("vae", shape, latent_dim=4)}
    return {**{k: v for k, v in derived.items() if k in declared}, **family(name).tiny, **overrides}


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", names("image"))
def test_every_model_maps_images_to_codes_and_back(name, shape):
    torch.manual_seed(0)
    model = build_model(name, config(name, shape)).eval()
    x = torch.rand(3, *shape)
    with torch.no_grad():
        z = model.encode(x)
        decoded = model.decode(z)
        rebuilt = model.reconstruct(x)
        samples = model.sample(2, generator=torch.Generator().manual_seed(1)) if model.capabilities.samples else None
    assert z.shape == (3, model.latent_dim)
    assert decoded.shape == rebuilt.shape == (3, *shape)
    for images in (decoded, rebuilt, *([samples] if samples is not None else [])):
        assert torch.isfinite(images).all() and images.min() >= 0 and images.max() <= 1
    if samples is not None:
        assert samples.shape == (2, *shape)
    rebuilt_model = build_model(name, model.config)  # the config alone rebuilds the same architecture
    rebuilt_model.load_state_dict(model.state_dict())


@pytest.mark.parametrize("name", ["ae", "dae", "conv-ae", "vae", "conv-vae"])
def test_autoencoder_families_train_step_lowers_the_loss(name):
    torch.manual_seed(0)
    model = build_model(name, config(name, (1, 8, 8)))
    x = torch.rand(32, 1, 8, 8).round()  # binary 8x8 images: easy to fit
    opt = model.configure_optimizers(3e-3)
    first = float(model.train_step(x, opt)["total"])
    for _ in range(40):
        last = float(model.train_step(x, opt)["total"])
    assert last < 0.85 * first


def test_kl_is_zero_for_the_prior_and_matches_torch_distributions():
    zeros = torch.zeros(5, 4)
    assert gaussian_kl(zeros, zeros).item() == 0.0
    mu, logvar = torch.randn(5, 4), torch.randn(5, 4)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1).mean()
    assert gaussian_kl(mu, logvar).item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_vae_loss_is_the_negative_elbo_computed_by_hand(likelihood, monkeypatch):
    torch.manual_seed(0)
    model = build_model("vae", config("vae", (1, 8, 8), latent_dim=3, likelihood=likelihood, obs_std=0.2, beta=0.5))
    x = torch.rand(4, 1, 8, 8)
    mu, logvar, eps = torch.randn(4, 3), torch.randn(4, 3) * 0.3, torch.randn(4, 3)
    monkeypatch.setattr(model, "posterior", lambda _: (mu, logvar))  # pin q(z|x) and the noise
    monkeypatch.setattr(torch, "randn_like", lambda _: eps)
    losses = model.loss(x)
    monkeypatch.undo()
    with torch.no_grad():
        z = mu + eps * torch.exp(0.5 * logvar)
        p = model.decode(z)  # Bernoulli means / Gaussian means in [0, 1]
    if likelihood == "gaussian":  # -log N(x; p, 0.2^2) without the constant, summed over pixels, mean over images
        recon = ((x - p) ** 2 / (2 * 0.2 ** 2)).sum() / 4
    else:  # -log Bernoulli(x; p) for soft targets
        recon = -(x * p.log() + (1 - x) * (1 - p).log()).sum() / 4
    kl = (0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)).sum() / 4
    assert losses["recon"].item() == pytest.approx(recon.item(), rel=1e-4)
    assert losses["kl"].item() == pytest.approx(kl.item(), rel=1e-5)
    assert losses["total"].item() == pytest.approx(recon.item() + 0.5 * kl.item(), rel=1e-4)


def test_vae_encode_is_the_posterior_mean_and_unknown_likelihood_is_refused():
    model = build_model("vae", config("vae", (1, 8, 8))).eval()
    x = torch.rand(2, 1, 8, 8)
    assert torch.equal(model.encode(x), model.posterior(x)[0])
    with pytest.raises(SettingError, match="likelihood"):
        build_model("vae", config("vae", (1, 8, 8), likelihood="poisson"))


def test_dae_corrupts_its_input_only_in_training_mode():
    torch.manual_seed(0)
    model = build_model("dae", config("dae", (1, 8, 8)))
    assert model.noise_std == 0.2
    x = torch.rand(8, 1, 8, 8)
    seen = []
    model.encode = lambda inp: seen.append(inp.clone()) or torch.zeros(len(inp), model.latent_dim)
    model.train()
    model.loss(x)
    model.eval()
    model.loss(x)
    noisy, clean = seen
    assert torch.equal(clean, x)
    assert not torch.allclose(noisy, x)
    assert noisy.min() >= 0 and noisy.max() <= 1  # corrupted images stay images
    assert (noisy - x).std().item() == pytest.approx(0.2, abs=0.05)  # about noise_std (less where clamped)


def test_plain_autoencoder_loss_is_the_pixel_mse():
    model = build_model("ae", config("ae", (1, 8, 8))).eval()
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        assert model.loss(x)["total"].item() == pytest.approx(F.mse_loss(model.reconstruct(x), x).item(), rel=1e-6)


def test_unknown_model_name_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="vae"):
        build_model("nope", {"image_shape": [1, 8, 8]})


def test_sampling_respects_temperature_and_generator():
    model = build_model("vae", config("vae", (1, 8, 8))).eval()
    a = model.sample(4, generator=torch.Generator().manual_seed(3))
    b = model.sample(4, generator=torch.Generator().manual_seed(3))
    cold = model.sample(4, temperature=0.0)
    assert torch.equal(a, b)
    assert torch.allclose(cold, model.decode(torch.zeros(4, model.latent_dim)))
    assert math.isclose(cold.std(0).max().item(), 0.0, abs_tol=1e-6)
