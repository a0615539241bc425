"""The contract every registered family passes: a new family is tested by being registered.

Its settings are declared (help, ranges, choices) and round-trip; its model builds from its tiny settings,
its loss has named components, its capabilities are honoured (what it declares works, what it does not
raises), a checkpoint rebuilds it exactly, it trains through the real loop, and the command line and the
Setup panel offer its settings.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import main
from core.runs.recipe import image_run
from core.train.checkpoint import load_checkpoint, save_checkpoint
from core.train.loop import TrainConfig
from models import FAMILIES, SettingError, build_model, family, names

IMAGE, AUDIO = names("image"), names("audio")
SHAPE = (1, 8, 8)


def tiny_config(name: str) -> dict:
    declared = {s.name for s in family(name).specs()}
    derived = {"image_shape": list(SHAPE), "mean": [0.4], "std": [0.3]}
    if "base" in declared:
        derived["base"] = {"name": "vae", "config": tiny_config("vae")}
    return {**{k: v for k, v in derived.items() if k in declared}, **family(name).tiny}


@pytest.mark.parametrize("name", list(FAMILIES))
def test_settings_are_declared_checked_and_round_trip(name):
    fam = family(name)
    assert fam.summary and fam.kind and fam.lr > 0
    assert fam.needs_base == ("base" in {s.name for s in fam.specs() if s.derived})  # declared, and it fits
    for spec in fam.specs():
        assert spec.help, f"{name}.{spec.name} has no help"
        assert spec.kind != "other" or spec.derived, f"{name}.{spec.name}: the form cannot edit its type"
        if not spec.derived:
            assert spec.check(spec.default) is not None
        if spec.kind in ("int", "float") and spec.low is not None:
            with pytest.raises(SettingError, match=spec.name):
                spec.check(spec.low - 1)
        if spec.kind == "choice":
            with pytest.raises(SettingError, match="must be one of"):
                spec.check("no such choice")
    config = build_model(name, tiny_config(name) if fam.capabilities.modality == "image" else fam.tiny).config
    assert fam.settings(config).to_dict() == config  # a checkpoint's config rebuilds the same settings
    with pytest.raises(SettingError, match="unknown setting"):
        fam.settings({**config, "no_such_setting": 1})


@pytest.mark.parametrize("name", IMAGE)
def test_image_family_honours_its_capabilities(name):
    torch.manual_seed(0)
    model = build_model(name, tiny_config(name))
    caps, x = model.capabilities, torch.rand(4, *SHAPE)
    losses = model.loss(x)
    assert "total" in losses and all(v.ndim == 0 and torch.isfinite(v) for v in losses.values())
    steps = model.train_step(x, model.configure_optimizers(1e-3))
    assert set(steps) == set(losses) and not any(v.requires_grad for v in steps.values())
    model.eval()
    promised = {
        "encodes": lambda: model.encode(x).shape == (4, model.latent_dim),
        "decodes": lambda: model.decode(torch.randn(4, model.latent_dim)).shape == (4, *SHAPE),
        "samples": lambda: model.sample(3, generator=torch.Generator().manual_seed(0)).shape == (3, *SHAPE),
        "posterior": lambda: all(t.shape == (4, model.latent_dim) for t in model.posterior(x)),
        "likelihood": lambda: model.bits_per_dim(x).shape == (4,) and bool(torch.isfinite(model.bits_per_dim(x)).all()),
        "iterative": lambda: len(list(model.denoise_steps(torch.randn(2, model.latent_dim)))) == model.sample_steps,
    }
    with torch.no_grad():
        for capability, works in promised.items():
            if getattr(caps, capability):
                assert works(), f"{name} declares {capability} but it does not work"
            else:
                with pytest.raises(NotImplementedError):
                    works()
        if caps.reconstructs:
            assert model.reconstruct(x).shape == x.shape
        if caps.samples or caps.decodes:
            out = model.decode(torch.randn(2, model.latent_dim))
            assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("name", list(FAMILIES))
def test_a_checkpoint_rebuilds_the_model_exactly(name, tmp_path):
    torch.manual_seed(0)
    fam = family(name)
    model = build_model(name, tiny_config(name) if fam.capabilities.modality == "image" else fam.tiny).eval()
    path = save_checkpoint(tmp_path / "c.pt", model, model.configure_optimizers(1e-3), {"epoch": 1})
    loaded, payload = load_checkpoint(path)
    assert loaded.name == name and loaded.config == model.config and type(loaded) is type(model)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    if fam.capabilities.decodes:
        z = torch.randn(2, model.latent_dim, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            assert torch.allclose(loaded.decode(z), model.decode(z), atol=1e-6)


@pytest.mark.parametrize("name", IMAGE)
def test_image_family_trains_through_the_real_loop(name, digits, tmp_path):
    base = None
    if "base" in {s.name for s in family(name).specs()}:
        base_run = image_run("vae", family("vae").tiny, digits, "digits", TrainConfig(epochs=1, device="cpu"),
                             tmp_path / "base")
        base_run.build_trainer(lambda e: None).train()
        base = tmp_path / "base" / "checkpoint.pt"
    config = TrainConfig(epochs=1, batch_size=256, lr=family(name).lr, device="cpu", log_every=2)
    run = image_run(name, family(name).tiny, digits, "digits", config, tmp_path / "run", base)
    trainer = run.build_trainer(lambda e: None)
    assert trainer.train() == "finished"
    rows = trainer.history
    components = set(build_model(name, run.model_config).loss(torch.rand(2, *digits.image_shape))) - {"total"}
    for split in ("train", "val"):
        row = next(r for r in rows if r["split"] == split)
        assert components <= set(row) and math.isfinite(row["loss"])
        assert (row["r2"] is not None) == family(name).capabilities.reconstructs
    loaded, payload = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert payload["history"] == rows and loaded.name == name


@pytest.mark.parametrize("name", AUDIO)
def test_audio_family_denoises_waves_of_any_length(name):
    torch.manual_seed(0)
    model = build_model(name, family(name).tiny).eval()
    wave = torch.randn(2, model.channels, 3001)
    with torch.no_grad():
        assert model(wave).shape == wave.shape
        losses = model.loss(wave, wave)
    assert "total" in losses and torch.isfinite(losses["total"])
    if model.capabilities.streams:
        state = model.init_state(2)
        out, _ = model.stream_step(wave[..., :model.stride * 4], state)
        assert out.shape == (2, model.channels, model.stride * 4)


def test_the_command_line_offers_every_setting_of_every_family():
    train = main.build_parser(["train"])._subparsers._group_actions[0].choices["train"]
    flags = {o for a in train._actions for o in a.option_strings}
    assert set(FAMILIES) <= set(next(a for a in train._actions if "--model" in a.option_strings).choices)
    for fam in FAMILIES.values():
        for spec in fam.specs(editable_only=True):
            assert spec.flag in flags, f"no {spec.flag} for {fam.name}"


def test_the_readme_model_list_and_tables_are_those_the_declarations_make():
    from pathlib import Path

    from core.commands.families import model_list, tables
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for part in (model_list(), tables()):
        assert part in readme, "README's model list or tables are stale: paste `python main.py families --markdown`"


@pytest.mark.parametrize("name", IMAGE)
def test_the_setup_panel_shows_exactly_the_familys_settings(name, qtbot):
    from gui.bridge import TrainingBridge
    from gui.context import AppContext
    from gui.setup_panel import SetupPanel
    context, bridge = AppContext(), TrainingBridge()
    panel = SetupPanel(context, bridge)
    qtbot.addWidget(panel)
    panel.family_combo.setCurrentIndex(panel.family_combo.findData(name))
    shown = {key[0] for key, f in panel.fields.items() if panel.model_form.isRowVisible(f.widget)}
    assert shown == {s.name for s in family(name).specs(editable_only=True)}
    values = panel.read_form()[1]
    assert family(name).settings({**tiny_config(name), **values})  # the defaults shown are valid settings
    assert np.isclose(float(panel.lr_edit.text()), family(name).lr)
