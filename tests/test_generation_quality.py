"""Every family that samples learns to draw digits in seconds (issue 20 item 5): a model trained for a few
epochs at its tiny settings must halve its untrained self's Fréchet distance (the app's, in the feature space of
Compare's classifier; 500 samples) and its samples must show at least 8 of the 10 digit classes. Margins seen on
an idle machine are printed with -s."""
from __future__ import annotations

import pytest
import torch

from core.image.compare import Comparer
from core.image.model_setup import base_model_setup
from core.train.checkpoint import load_checkpoint
from models import build_model, family, names
from zoo_helpers import train_tiny

SAMPLING = [n for n in names("image") if family(n).capabilities.samples]
#: epochs of a few seconds each on 8x8 digits (26 steps an epoch); the VAEs' steps are the cheapest
EPOCHS = {"gan": 8, "flow": 40, "diffusion": 30, "flow-matching": 30, "latent-diffusion": 30}  # the VAEs: 60
MARGIN = 0.5  # the trained model's Fréchet distance is at most this share of its untrained self's
LEAST_CLASSES = 8


@pytest.fixture(scope="module")
def comparer(digits, cache_dir):
    return Comparer(digits, "digits", samples_per_model=500)


@pytest.fixture(scope="module")
def vae_base(digits, tmp_path_factory):
    """A latent diffusion's base: a tiny VAE trained on digits."""
    _, path = train_tiny("vae", digits, tmp_path_factory.mktemp("base"), epochs=60)
    return base_model_setup(path, digits.image_shape)


def test_every_family_that_samples_is_covered():
    assert {"vae", "gan", "flow", "diffusion", "flow-matching", "latent-diffusion"} <= set(SAMPLING)


@pytest.mark.parametrize("name", SAMPLING)
def test_a_briefly_trained_model_halves_its_untrained_distance_and_draws_most_digits(name, digits, comparer,
                                                                                     tmp_path, request):
    extra = {}
    if name == "latent-diffusion":
        overrides, init_state = request.getfixturevalue("vae_base")
        extra = {"derived": overrides, "init_state": init_state}
    trainer, path = train_tiny(name, digits, tmp_path, epochs=EPOCHS.get(name, 60), lr=family(name).lr, **extra)
    trained, _ = load_checkpoint(path)
    torch.manual_seed(1)
    untrained = build_model(name, trained.config)
    if extra:
        untrained.load_state_dict(extra["init_state"], strict=False)  # the same frozen base, an untrained denoiser
    untrained = as_training_starts(untrained, digits)
    before = comparer.score_images("untrained", name, _samples(untrained))
    after = comparer.score_images("trained", name, _samples(trained))
    print(f"{name}: Fréchet {before.frechet:.2f} untrained -> {after.frechet:.2f} after {trainer.step} steps "
          f"({after.frechet / before.frechet:.2f}x); classes {after.classes_covered}, recall {after.recall:.2f}")
    assert after.frechet <= MARGIN * before.frechet
    assert after.classes_covered >= LEAST_CLASSES


def as_training_starts(model, data):
    """``model`` as a run leaves it before its first optimiser step: layers that initialise themselves from the
    first batch (the flow's ActNorm, which alone brings its samples halfway to the data) have done so. Its
    untrained self is that, or a flow that learned nothing would pass."""
    if any(name.endswith("initialized") for name, _ in model.named_buffers()):
        with torch.no_grad():
            model.train().loss(data.float_images(data.split()[0][:64]))
        model.update_average()  # (as each step does, whether or not the optimiser moved anything)
    return model.eval()


def _samples(model) -> torch.Tensor:
    with torch.no_grad():
        x = model.sample(500, generator=torch.Generator().manual_seed(0))
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)
