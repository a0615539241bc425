"""The model zoo beyond autoencoders: GAN, flow, diffusion and latent diffusion, trained briefly on digits."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.errors import CheckpointError
from core.image.classifier import train_classifier
from core.image.quality import frechet_distance
from core.image.model_setup import base_model_setup
from core.train.checkpoint import load_checkpoint
from main import main
from models import build_model, family
from models.diffusion import GaussianDiffusion
from zoo_helpers import train_tiny


def train_rows(trainer, key: str) -> list[float]:
    return [r[key] for r in trainer.history if r["split"] == "train"]


@pytest.fixture(scope="module")
def classifier(digits):
    return train_classifier(digits, epochs=6)


# --- shapes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (1, 6, 10)])
@pytest.mark.parametrize("name", ["gan", "flow", "diffusion"])
def test_every_family_handles_small_and_odd_image_sizes(name, shape):
    torch.manual_seed(0)
    model = build_model(name, {"image_shape": list(shape), **family(name).tiny})
    x = torch.randint(0, 256, (3, *shape)).float() / 255
    losses = model.loss(x)
    assert torch.isfinite(losses["total"]) and set(losses) >= {"total"}
    model.eval()
    with torch.no_grad():
        assert model.sample(2).shape == (2, *shape)
        z = model.encode(x) if name != "gan" else model.sample_latents(3)
        assert z.shape == (3, model.latent_dim) and model.decode(z).shape == (3, *shape)


def test_flow_refuses_odd_sides_and_empty_settings():
    with pytest.raises(ValueError, match="even image sides"):
        build_model("flow", {"image_shape": [1, 7, 8]})
    with pytest.raises(ValueError, match="levels must be at least 1"):
        build_model("flow", {"image_shape": [1, 8, 8], "levels": 0})


# --- flow ------------------------------------------------------------------------------------
def test_flow_trains_is_exactly_invertible_and_reports_bits_per_dim(digits, tmp_path):
    trainer, path = train_tiny("flow", digits, tmp_path, epochs=3)
    bpd = train_rows(trainer, "bits_per_dim")
    assert bpd[-1] < bpd[0] - 0.3, bpd
    model, _ = load_checkpoint(path)
    x = digits.float_images(slice(0, 200))
    with torch.no_grad():
        error = float((model.decode(model.encode(x)) - x).abs().max())
        bits = model.bits_per_dim(x)
    print(f"flow: inverse error {error:.2e}, {float(bits.mean()):.3f} bits/dim")
    assert error < 1e-4
    assert torch.isfinite(bits).all() and 0 < float(bits.mean()) < 8
    val = [r for r in trainer.history if r["split"] == "val"]
    assert val[-1]["r2"] == pytest.approx(1.0, abs=1e-6)  # reconstruction through an exact inverse


def test_a_flow_far_from_its_data_still_samples_finite_images():
    # Glow's coupling scale sigmoid(. + 2) contracts without limit, so sampling (the inverse) can expand without
    # limit: a flow trained a minute on MNIST drew whole images of NaN (issue 20). The scale is bounded now.
    torch.manual_seed(0)
    model = build_model("flow", {"image_shape": [1, 8, 8], **family("flow").tiny})
    with torch.no_grad():
        for coupling in (m for m in model.modules() if type(m).__name__ == "AffineCoupling"):
            coupling.net[-1].weight.normal_(0, 30.0)  # couplings that answer strange inputs with extreme scales
        model.eval()
        x = model.sample(64, temperature=3.0, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(x).all()


def test_a_flows_last_scale_has_steps_of_its_own_and_its_detail_a_temperature_of_its_own():
    model = build_model("flow", {"image_shape": [1, 8, 8], "levels": 2, "steps": 1, "top_steps": 3, "hidden": 4,
                                 "temperature": 1.5, "detail_temperature": 0.5}).eval()
    assert [len(scale) for scale in model.scales] == [1, 3]
    x = torch.randint(0, 256, (3, 1, 8, 8)) / 255
    with torch.no_grad():
        assert torch.allclose(model.decode(model.encode(x)), x, atol=1e-4)
    z = model.sample_latents(4000, generator=torch.Generator().manual_seed(0))
    detail = 2 * 4 * 4  # the first scale sets aside half of its 4 x 4 x 4 variables; the last scale keeps 8 x 2 x 2
    assert float(z[:, :detail].std()) == pytest.approx(0.75, rel=0.03)
    assert float(z[:, detail:].std()) == pytest.approx(1.5, rel=0.03)


def test_old_flow_checkpoints_keep_the_coupling_and_prior_they_were_trained_with():
    stored = family("flow").stored({"image_shape": [1, 8, 8], "levels": 2, "steps": 1, "hidden": 4})
    model = build_model("flow", stored)
    assert stored["scale_bound"] == 0.0 and all(m.bound == 0.0 for m in model.modules() if hasattr(m, "bound"))
    assert stored["learned_prior"] is False and len(model.priors) == 0
    model.update_average()  # (its average of no priors is no trouble: such checkpoints train on)
    assert stored["top_steps"] == 0 and stored["detail_temperature"] == 1.0
    new = build_model("flow", {"image_shape": [1, 8, 8], "levels": 2, "steps": 1, "hidden": 4})
    assert [type(p).__name__ for p in new.priors] == ["SplitPrior", "TopPrior"]


# --- diffusion -------------------------------------------------------------------------------
def test_diffusion_trains_and_ddim_inversion_reconstructs(digits, tmp_path):
    trainer, path = train_tiny("diffusion", digits, tmp_path, epochs=3)
    mse = train_rows(trainer, "noise_mse")
    # the min-SNR-weighted v-prediction loss starts lower than a plain noise MSE and falls less (issue 20);
    # that the samples get better is test_generation_quality.py's
    assert mse[-1] < 0.8 * mse[0], mse
    assert all(r["r2"] is None for r in trainer.history)
    model, _ = load_checkpoint(path)
    model.sample_steps = 20
    x = digits.float_images(slice(0, 64))
    with torch.no_grad():
        z = model.encode(x)
        recon_mse = float((model.decode(z) - x).pow(2).mean())
    print(f"diffusion: DDIM (20 steps) inversion -> sampling MSE {recon_mse:.5f}, latent std {float(z.std()):.2f}")
    assert recon_mse < 0.01
    assert 0.6 < float(z.std()) < 1.5, "inverted codes should look like the N(0, I) noise sampling starts from"
    steps = list(model.denoise_steps(z[:4], steps=5))
    assert [t for t, _ in steps][-1] == -1 and len(steps) == 5
    model.sample_steps = 5
    with torch.no_grad():
        torch.testing.assert_close(steps[-1][1], model.decode(z[:4]))  # the last step is the sample itself


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_steps_with_fresh_noise_keep_every_marginal_of_the_forward_process(eta):
    """Data that is one image c, and a network that knows it (its v implies x0 = c): after each jump,
    x_t ~ N(sqrt(a_t) c, (1 - a_t) I), however much of the noise (eta) is fresh; the last jump lands on c."""
    diffusion = GaussianDiffusion()
    c = torch.linspace(-0.8, 0.8, 16)

    def knows_c(x, t):
        a = diffusion.alpha_bar[t][:, None]
        eps = (x - a.sqrt() * c) / (1 - a).sqrt()
        return a.sqrt() * eps - (1 - a).sqrt() * c

    x = torch.randn(20_000, 16, generator=torch.Generator().manual_seed(0))
    seen = 0
    for t, xt, x0 in diffusion.denoise_steps(knows_c, x, 10, eta=eta, generator=torch.Generator().manual_seed(1)):
        a = float(diffusion._a(t, xt))
        torch.testing.assert_close(xt.mean(0), math.sqrt(a) * c, atol=0.03, rtol=0)
        assert abs(float(xt.std(0).mean()) - math.sqrt(1 - a)) < 0.02, (t, eta)
        seen += 1
    assert seen == 10 and torch.allclose(xt, c.expand_as(xt), atol=1e-4)
    for steps in (2, 5):  # from pure noise, what is kept of the predicted noise rounds to just below 0 here
        assert torch.isfinite(diffusion.sample(knows_c, x[:8], steps, eta=eta)).all(), steps
    # how much is fresh: from one x_t, a jump t -> s spreads as eta x the std of DDPM's posterior q(x_s | x_t, x0),
    # whose variance is (1 - a_s) / (1 - a_t) * beta, beta = 1 - a_t / a_s
    t, s = 599, 299
    a_t, a_s = float(diffusion.alpha_bar[t]), float(diffusion.alpha_bar[s])
    x_t = (math.sqrt(a_t) * c + math.sqrt(1 - a_t) * torch.randn(16)).expand(20_000, 16)
    jumped, _ = diffusion._jump(x_t, knows_c(x_t, torch.full((20_000,), t)), diffusion._a(t, x_t),
                                diffusion._a(s, x_t), None, eta, torch.Generator().manual_seed(2))
    posterior_std = math.sqrt((1 - a_s) / (1 - a_t) * (1 - a_t / a_s))
    assert abs(float(jumped.std(0).mean()) - eta * posterior_std) < 0.01, (float(jumped.std(0).mean()), eta)


def test_diffusion_samples_with_fresh_noise_and_decodes_without():
    model = build_model("diffusion", {**family("diffusion").tiny, "image_shape": [1, 8, 8]})
    z = model.sample_latents(4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        drawn = model.sample(4, generator=torch.Generator().manual_seed(0))
        again = model.sample(4, generator=torch.Generator().manual_seed(0))
        decoded = model.decode(z)
    assert model.settings.eta == 1.0 and torch.equal(drawn, again)  # (a fixed seed: the same samples)
    assert not torch.allclose(drawn, decoded), "the family's samples take DDPM's fresh noise"
    assert torch.equal(model.decode(z), decoded), "decoding a code stays deterministic (maps, sliders, morphs)"
    old = build_model("diffusion", family("diffusion").stored({"image_shape": [1, 8, 8], "channels": [8]}))
    assert old.settings.eta == 0.0  # checkpoints from before the setting sample as they did
    vae = {"image_shape": [1, 8, 8], "mean": [0.5], "std": [0.5]}
    assert build_model("latent-diffusion", {"base": {"name": "vae", "config": vae},
                                            "image_shape": [1, 8, 8]}).settings.eta == 0.0


# --- GAN -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_gan(digits, tmp_path_factory):
    return train_tiny("gan", digits, tmp_path_factory.mktemp("gan"), epochs=12, lr=5e-4)


def test_gan_trains_both_players_and_covers_the_digit_classes(digits, trained_gan, classifier):
    trainer, path = trained_gan
    row = trainer.history[-2]
    assert {"d_loss", "g_loss", "d_real", "d_fake", "loss"} <= set(row)
    assert all(math.isfinite(r[k]) for r in trainer.history for k in ("d_loss", "g_loss", "d_real", "d_fake"))
    model, payload = load_checkpoint(path)
    assert set(payload["optimizers"]) == {"generator", "discriminator"}
    torch.manual_seed(0)
    untrained = build_model("gan", model.config).eval()
    real, _ = classifier.model.embed(digits.images[:500])
    distance = {}
    for name, gan in (("untrained", untrained), ("trained", model)):
        with torch.no_grad():
            samples = gan.sample(500, generator=torch.Generator().manual_seed(0))
        features, labels = classifier.model.embed(samples)
        distance[name] = frechet_distance(real, features)
    counts = np.bincount(labels, minlength=10)
    print(f"GAN: Fréchet distance {distance}; the classifier (accuracy {classifier.accuracy:.3f}) sees classes "
          f"{counts.tolist()} in 500 samples")
    assert distance["trained"] < 0.5 * distance["untrained"], "the samples come closer to the digits"
    assert (counts > 0).sum() >= 8, "not collapsed onto a few digits"


def test_gan_inversion_finds_a_code_that_reproduces_the_image(digits, trained_gan):
    model, _ = load_checkpoint(trained_gan[1])
    x = digits.float_images(slice(0, 32))
    z = model.encode(x)
    with torch.no_grad():
        fitted = float((model.decode(z) - x).pow(2).mean())
        random = float((model.sample(32, generator=torch.Generator().manual_seed(0)) - x).pow(2).mean())
    print(f"GAN inversion: MSE {fitted:.4f} (a random sample: {random:.4f})")
    assert z.shape == (32, model.latent_dim) and not z.requires_grad
    assert fitted < 0.5 * random
    assert all(p.grad is None for p in model.parameters()), "inversion must not touch the weights"
    torch.testing.assert_close(model.encode(x), z)  # deterministic


# --- latent diffusion ------------------------------------------------------------------------
def test_latent_diffusion_on_a_trained_vae_is_self_contained(digits, tmp_path):
    _, base_path = train_tiny("vae", digits, tmp_path / "vae", epochs=4)
    overrides, init_state = base_model_setup(base_path, digits.image_shape)
    trainer, path = train_tiny("latent-diffusion", digits, tmp_path / "ld", epochs=6, init_state=init_state,
                               derived=overrides)
    mse = train_rows(trainer, "noise_mse")
    assert sum(mse[-3:]) < 0.9 * sum(mse[:3]), mse  # weighted v-prediction: see the diffusion test above
    base_path.unlink()  # the checkpoint carries the base model's config and weights
    model, _ = load_checkpoint(path)
    for k, v in init_state.items():
        torch.testing.assert_close(model.state_dict()[k], v)  # the frozen base did not move
    x = digits.float_images(slice(0, 32))
    with torch.no_grad():
        codes = (model.base.encode(x) - model.code_mean) / model.code_std
        z = model.encode(x)
        back = (model.decode_code(z) - model.code_mean) / model.code_std
        assert model.sample(5).shape == (5, 1, 8, 8)
    assert z.shape == (32, model.latent_dim)
    assert float((back - codes).pow(2).mean()) < 0.15 * float(codes.pow(2).mean())


def test_latent_diffusion_base_must_be_an_autoencoder_of_these_images(digits, tmp_path):
    _, gan_path = train_tiny("gan", digits, tmp_path / "gan", epochs=1)
    with pytest.raises(Exception, match="autoencoder or VAE"):
        base_model_setup(gan_path, digits.image_shape)
    _, vae_path = train_tiny("vae", digits, tmp_path / "vae", epochs=1)
    with pytest.raises(Exception, match=r"trained on images \[1, 8, 8\]"):
        base_model_setup(vae_path, (1, 28, 28))
    overrides, init_state = base_model_setup(vae_path, digits.image_shape)
    wrong = {k: v[..., :1] if v.ndim else v for k, v in init_state.items()}
    with pytest.raises(CheckpointError, match="initial weights do not fit"):
        train_tiny("latent-diffusion", digits, tmp_path / "ld", epochs=1, init_state=wrong, derived=overrides)


def test_train_command_latent_diffusion_with_base_and_settings(digits, tmp_path, capsys):
    _, vae_path = train_tiny("vae", digits, tmp_path / "vae", epochs=1)
    out = tmp_path / "ld"
    assert main(["train", "--model", "latent-diffusion", "--base", str(vae_path), "--out", str(out), "--epochs", "1",
                 "--set", "hidden=32", "--set", "depth=1", "--set", "sample-steps=4"]) == 0
    model, payload = load_checkpoint(out / "checkpoint.pt")
    assert model.config["hidden"] == 32 and model.sample_steps == 4 and model.config["base"]["name"] == "vae"
    capsys.readouterr()
    cases = [(["--model", "latent-diffusion"], "pass its checkpoint with --base"),
             (["--model", "gan", "--base", str(vae_path)], "--base is for latent-diffusion"),
             (["--model", "gan", "--set", "channels"], "write KEY=VALUE"),
             (["--model", "gan", "--set", "loss=wasserstein"], "loss must be one of hinge, ns"),
             (["--model", "flow", "--set", "depth=3"], "flow has no such setting")]
    for args, message in cases:
        assert main(["train", *args, "--out", str(tmp_path / "x"), "--epochs", "1"]) == 1
        assert message in capsys.readouterr().err
