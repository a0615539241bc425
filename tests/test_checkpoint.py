"""Checkpoints: round trips, atomic writes, and every kind of bad file refused with a CheckpointError."""
from __future__ import annotations

import os

import pytest
import torch

import core.train.checkpoint as checkpoint
from core.errors import CheckpointError
from core.train.checkpoint import FORMAT, load_checkpoint, read_checkpoint, save_checkpoint
from models import build_model


def trained(name: str = "vae", **overrides):
    """A model with a few optimiser steps behind it (so weights, BatchNorm buffers and Adam state are real)."""
    torch.manual_seed(0)
    model = build_model(name, {"image_shape": [1, 8, 8], "mean": [0.3], "std": [0.3], **overrides})
    optimizers = model.configure_optimizers(1e-3)
    for _ in range(3):
        model.train_step(torch.rand(16, 1, 8, 8), optimizers)
    return model.eval(), optimizers


@pytest.mark.parametrize("name, overrides", [("vae", {"hidden": [32]}), ("conv-vae", {"channels": [4, 8]}),
                                             ("dae", {"hidden": [32]})])
def test_round_trip_gives_the_same_model(tmp_path, name, overrides):
    model, optimizers = trained(name, **overrides)
    history = [{"step": 1, "split": "train", "loss": 3.5, "r2": None}]
    save_checkpoint(tmp_path / "run" / "c.pt", model, optimizers, {"epoch": 2, "dataset": "digits"}, history)
    loaded, payload = load_checkpoint(tmp_path / "run" / "c.pt")
    assert not loaded.training and loaded.name == name and loaded.config == model.config
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded.encode(x), model.encode(x))
        assert torch.equal(loaded.reconstruct(x), model.reconstruct(x))
    assert payload["format"] == FORMAT and payload["train_state"] == {"epoch": 2, "dataset": "digits"}
    assert payload["history"] == history
    fresh = loaded.configure_optimizers(1e-3)
    fresh["main"].load_state_dict(payload["optimizers"]["main"])  # Adam's moments come back too
    assert fresh["main"].state_dict()["state"][0]["step"] == 3


def test_a_failing_save_leaves_the_old_file_and_no_temporary_files(tmp_path, monkeypatch):
    model, _ = trained()
    path = save_checkpoint(tmp_path / "c.pt", model)
    before = path.read_bytes()

    def half_written(obj, f):
        f.write(before[: len(before) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", half_written)
    model.decoder[0].bias.data += 1
    with pytest.raises(CheckpointError, match=r"could not write the checkpoint \(disk full\)"):
        save_checkpoint(path, model)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.pt"]
    load_checkpoint(path)


class Gadget:
    """An arbitrary class: unpickling it could run code, so ``weights_only`` refuses it."""


def test_missing_damaged_and_foreign_files_are_refused(tmp_path):
    model, _ = trained()
    good = save_checkpoint(tmp_path / "good.pt", model).read_bytes()

    files = {
        "missing.pt": None,
        "truncated.pt": good[: len(good) // 2],
        "random.pt": os.urandom(4096),
        "empty.pt": b"",
        "text.pt": b"hello, this is not a checkpoint\n",
    }
    for name, content in files.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
    torch.save({"weights": torch.zeros(3), "epoch": 4}, tmp_path / "other_dict.pt")
    torch.save({"format": FORMAT, "model": Gadget()}, tmp_path / "custom_class.pt")
    torch.save({"format": FORMAT, "history": []}, tmp_path / "incomplete.pt")
    expected = {"missing.pt": "no such checkpoint file", "other_dict.pt": "not a Latent Explorer checkpoint",
                "custom_class.pt": "refused for safety", "incomplete.pt": "incomplete checkpoint"}
    for name in [*files, "other_dict.pt", "custom_class.pt", "incomplete.pt"]:
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(tmp_path / name)
        message = str(err.value)
        assert message.startswith(str(tmp_path / name)) and "\n" not in message
        assert expected.get(name, "not a readable Latent Explorer checkpoint") in message


def test_weights_that_do_not_fit_the_model_are_refused(tmp_path):
    model, _ = trained(hidden=[32])
    payload = read_checkpoint(save_checkpoint(tmp_path / "c.pt", model))
    payload["model"]["config"]["latent_dim"] = 5  # the config now builds a different architecture
    torch.save(payload, tmp_path / "reshaped.pt")
    with pytest.raises(CheckpointError, match="the weights do not fit model 'vae'"):
        load_checkpoint(tmp_path / "reshaped.pt")
    payload = read_checkpoint(tmp_path / "c.pt")
    payload["model"]["name"] = "no-such-model"
    torch.save(payload, tmp_path / "renamed.pt")
    with pytest.raises(CheckpointError, match="no-such-model"):
        load_checkpoint(tmp_path / "renamed.pt")
