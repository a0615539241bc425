"""``--batch-size auto`` (a CUDA GPU's batch for throughput, the learning rate scaled with it), reached on a CPU
by faking the device query: the optimisers train at the rate that the status, the setup event and the
checkpoint report, and a resumed run goes on at that rate (it used to be scaled after the optimisers were
built, so training kept the old rate and a resumed run jumped)."""
from __future__ import annotations

import inspect
import math
from types import SimpleNamespace

import pytest

import core.train.loop as loop
from core.runs.listing import read_status
from core.runs.recipe import image_config, resumed_run
from core.train.checkpoint import read_checkpoint
from core.train.loop import TrainConfig
from core.image.trainer import Run, Trainer

START, GROWTH = 32, 4  # the batch asked for, and how much larger the faked throughput search makes it


@pytest.fixture
def faked_cuda(monkeypatch):
    """``_choose_batch`` sees a CUDA device and a throughput search that picks ``GROWTH`` times the batch;
    the steps themselves run on the CPU."""
    choose = loop.TrainerBase._choose_batch
    choosing = inspect.getmodule(choose)  # (where the batch choice lives: the loop, or a part of it)

    def on_fake_cuda(self):
        device, self.device = self.device, SimpleNamespace(type="cuda")
        try:
            return choose(self)
        finally:
            self.device = device
    monkeypatch.setattr(loop.TrainerBase, "_choose_batch", on_fake_cuda)
    monkeypatch.setattr(choosing, "throughput_batch", lambda time_of, start, limit: start * GROWTH)


def rates(optimizers) -> list[float]:
    """The learning rate of every parameter group (of optimisers or of their saved states)."""
    return [g["lr"] for opt in optimizers.values() for g in (opt["param_groups"] if isinstance(opt, dict) else opt.param_groups)]


def test_auto_batch_trains_at_the_learning_rate_it_reports_and_a_resumed_run_keeps_it(digits, tmp_path, faked_cuda):
    cfg = TrainConfig(epochs=1, batch_size=START, lr=1e-3, device="cpu", auto_batch=True)
    train_idx, _ = digits.split(cfg.val_fraction, cfg.seed)
    events = []
    trainer = Trainer(Run("vae", image_config("vae", digits, train_idx, hidden=[32]), digits, "digits", cfg,
                          tmp_path / "run"), events.append)
    assert trainer.train() == "finished"
    scaled = 1e-3 * math.sqrt(GROWTH)
    setup = next(e for e in events if e["type"] == "setup")
    assert setup["batch_size"] == START * GROWTH and setup["lr"] == pytest.approx(scaled), setup
    assert rates(trainer.optimizers) == pytest.approx([scaled]), "the optimisers train at another rate than the one reported"
    assert read_status(tmp_path / "run")["lr"] == pytest.approx(scaled)
    saved = read_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert saved["train_state"]["config"]["lr"] == pytest.approx(scaled)
    assert rates(saved["optimizers"]) == pytest.approx([scaled])

    resumed = Trainer(resumed_run(tmp_path / "run" / "checkpoint.pt", tmp_path / "run", epochs=2))
    assert resumed.cfg.lr == pytest.approx(scaled) and rates(resumed.optimizers) == pytest.approx([scaled])
