"""Sampling with the moving average of the weights (``models.ema``): kept in checkpoints, warmed up, used by
sampling and the Training panel's previews and nowhere in training; old checkpoints still load."""
from __future__ import annotations

import pytest
import torch

from core.image.trainer import preview_grids
from core.train.checkpoint import load_checkpoint, save_checkpoint
from models import build_model, family

SHAPE = [1, 8, 8]


def tiny(name: str, **settings):
    torch.manual_seed(0)
    extra = {"mean": [0.3], "std": [0.3]} if name == "vae" else {}
    return build_model(name, {"image_shape": SHAPE, **extra, **family(name).tiny, **settings})


@pytest.mark.parametrize("name", ["vae", "gan", "flow", "diffusion", "flow-matching"])
def test_samples_come_from_the_average_which_follows_training_and_is_saved(name, tmp_path):
    model = tiny(name)
    optimizers = model.configure_optimizers(1e-2)
    averaged = {id(p) for p in model.ema.parameters()}
    assert not averaged & {id(p) for opt in optimizers.values() for g in opt.param_groups for g_p in [g["params"]]
                           for p in g_p}, "the optimisers never move the averages"
    before = [p.clone() for p in model.ema.parameters()]
    x = torch.rand(16, *SHAPE)
    for _ in range(3):
        model.train_step(x, optimizers)
    assert float(model.ema.updates) == 3
    assert any(not torch.equal(a, b) for a, b in zip(before, model.ema.parameters())), "the average moved"

    model.eval()
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    with torch.no_grad():
        samples = model.sample(4, generator=gen())
        for name_, live in model.named_children():  # scramble the live weights: samples must not change
            if name_ in model.ema.copies:
                for p in live.parameters():
                    p.add_(torch.randn_like(p))
        torch.testing.assert_close(model.sample(4, generator=gen()), samples)
        preview = preview_grids(model, x[:4], seed=0)["samples"]  # what the Training panel shows
        drawn = model.sample(len(preview), generator=gen())  # (as many: diffusion's fresh noise is per batch)
        assert (abs(preview.astype(int) - (drawn.clamp(0, 1) * 255).round().numpy()) <= 1).all()

    path = save_checkpoint(tmp_path / "c.pt", model)
    loaded, _ = load_checkpoint(path)
    with torch.no_grad():
        torch.testing.assert_close(loaded.sample(4, generator=gen()), samples)


def test_the_average_warms_up_then_keeps_its_decay():
    model = tiny("diffusion", ema_decay=0.99)
    live, average = model.net, model.ema.copies["net"]
    first = next(average.parameters())
    with torch.no_grad():
        for p in live.parameters():
            p.fill_(1.0)
        for p in average.parameters():
            p.zero_()
    model.update_average()
    assert float(first.flatten()[0]) == pytest.approx(0.9)  # 1st update keeps 1/10 of the old average
    model.ema.updates.fill_(10_000)
    with torch.no_grad():
        for p in average.parameters():
            p.zero_()
    model.update_average()  # long warmed up: keeps ema_decay of it
    assert float(first.flatten()[0]) == pytest.approx(0.01)


def test_a_checkpoint_saved_before_averages_and_new_settings_loads_as_it_was(tmp_path):
    """Weights without ``ema.*`` start their averages at the live weights; a diffusion config without the new
    settings keeps the linear schedule and noise prediction it was trained with."""
    model = tiny("diffusion")
    config = {k: v for k, v in model.config.items() if k not in ("schedule", "prediction", "snr_gamma", "patch",
                                                                  "ema_decay")}
    old = tiny("diffusion", schedule="linear", prediction="eps", snr_gamma=0.0, patch=1)
    state = {k: v for k, v in old.state_dict().items() if not k.startswith("ema.")}
    payload_model = build_model("diffusion", {**config, "schedule": "linear", "prediction": "eps", "snr_gamma": 0.0,
                                              "patch": 1})
    payload_model.load_state_dict(state)
    path = save_checkpoint(tmp_path / "old.pt", payload_model)
    raw = torch.load(path, weights_only=True)
    raw["model"]["config"] = config
    raw["state_dict"] = state
    torch.save(raw, path)
    loaded, _ = load_checkpoint(path)
    s = loaded.settings
    assert (s.schedule, s.prediction, s.snr_gamma, s.patch) == ("linear", "eps", 0.0, 1)
    for key, value in state.items():
        if key.startswith("net."):
            torch.testing.assert_close(loaded.state_dict()["ema.copies." + key], value)
    assert build_model("diffusion", {"image_shape": SHAPE}).settings.prediction == "v"  # new models: the new defaults
