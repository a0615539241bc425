"""The fast training step and the evaluation budget, on the CPU: optimiser flags per device, the step
runner's eager fallback (CUDA graphs need a CUDA device), channels-last and bf16 steps, loss sums kept on
the device, checkpoints written by another thread, and validation shrinking to what the budget affords."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from core.errors import CheckpointError, LatentExplorerError
from core.image.data import ImageData
from core.image.trainer import Run, Trainer
from core.runs.recipe import image_config
from core.train.checkpoint import checkpoint_payload, read_checkpoint
from core.train.evaluation import MIN_VALIDATION, EvalBudget
from core.train.fast_step import (LossMeans, StepRunner, channels_last_works, has_convolutions, step_seconds,
                             throughput_batch, tune_optimizers)
from core.train.loop import TrainConfig
from core.train.metrics import r2_score
from core.train.saver import BackgroundSaver
from models import build_model, family

CPU = torch.device("cpu")


def tiny(name: str, data, **settings):
    train_idx, _ = data.split(0.1, 0)
    return build_model(name, image_config(name, data, train_idx, **{**family(name).tiny, **settings}))


def test_adam_is_fused_on_a_cpu_and_a_cuda_checkpoint_resumes_there(digits):
    model = tiny("ae", digits)  # deterministic: both see the same gradients
    reference = tiny("ae", digits)
    reference.load_state_dict(model.state_dict())
    optimizers, plain = model.configure_optimizers(1e-3), reference.configure_optimizers(1e-3)
    state = optimizers["main"].state_dict()
    state["param_groups"][0].update(capturable=True, fused=True)  # as a CUDA run saves them
    optimizers["main"].load_state_dict(state)
    tune_optimizers(optimizers, CPU)
    group = optimizers["main"].param_groups[0]
    assert (group["fused"], group["foreach"], group["capturable"]) == (True, False, False)
    x = digits.float_images(torch.arange(32))
    for _ in range(3):
        model.train_step(x, optimizers)
        reference.train_step(x, plain)
    for a, b in zip(model.parameters(), reference.parameters()):  # fused Adam: the same updates
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert all(s["step"].device == CPU and s["step"].dtype == torch.float32
               for s in optimizers["main"].state.values())


def test_step_runner_runs_the_family_step_eagerly_off_cuda(digits):
    model = tiny("vae", digits)
    torch.manual_seed(0)
    x = digits.float_images(torch.arange(16))
    runner = StepRunner(model, model.configure_optimizers(1e-3), CPU, graphs=True)
    losses = runner((x,))
    assert runner.mode == "eager" and "CUDA graphs need a CUDA device" in runner.note
    assert runner.names == ["recon", "kl", "total"] and losses.shape == (3,) and torch.isfinite(losses).all()
    assert float(losses[2]) == pytest.approx(float(losses[0] + losses[1]), rel=1e-5)


def test_channels_last_steps_match_contiguous_ones_where_the_model_allows_them(digits):
    conv = tiny("conv-vae", digits)
    x = digits.float_images(torch.arange(8))
    assert has_convolutions(conv) and channels_last_works(conv, (x,))
    assert not has_convolutions(tiny("vae", digits))
    twin = tiny("conv-vae", digits)
    twin.load_state_dict(conv.state_dict())
    twin.to(memory_format=torch.channels_last)
    assert next(p for p in twin.parameters() if p.dim() == 4).is_contiguous(memory_format=torch.channels_last)
    losses = {}
    for model, layout in ((conv, False), (twin, True)):
        torch.manual_seed(1)
        opt = model.configure_optimizers(1e-3)
        tune_optimizers(opt, CPU)
        losses[layout] = StepRunner(model, opt, CPU, channels_last=layout)((x,))
    torch.testing.assert_close(losses[False], losses[True], rtol=1e-4, atol=1e-4)


def test_bf16_autocast_step_on_a_cpu(digits):
    model = tiny("conv-vae", digits)
    runner = StepRunner(model, model.configure_optimizers(1e-3), CPU, autocast=torch.bfloat16)
    assert torch.isfinite(runner((digits.float_images(torch.arange(16)),))).all()
    with pytest.raises(LatentExplorerError, match="precision must be one of fp32, bf16"):
        TrainConfig(precision="fp16").check()


def test_loss_means_are_example_weighted_and_see_the_reduction_first():
    means = LossMeans()
    means.add(torch.tensor([1.0, 10.0]), 3)
    means.add(torch.tensor([3.0, 20.0]), 1)
    seen = []
    out = means.means(["a", "total"], lambda t: seen.append(t.tolist()) or t * 2)  # e.g. two equal ranks
    assert seen == [[6.0, 50.0, 4.0]] and out == {"a": 1.5, "total": 12.5}
    assert not means


def test_evaluation_budget_is_a_share_of_the_time_since_it_began(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    budget = EvalBudget(0.05)
    now[0] = 110.0  # 10 s in: 0.5 s may go to evaluation
    assert budget.allows(0.5) and not budget.allows(0.6)
    now[0] = 110.4
    assert budget.charge(110.0) == pytest.approx(0.4)
    assert not budget.allows(0.2) and budget.allows(0.1)


def random_images(n: int) -> ImageData:
    rng = np.random.default_rng(0)
    return ImageData("noise", torch.from_numpy(rng.integers(0, 255, (n, 1, 8, 8), dtype=np.uint8)), None, None)


def test_validation_shrinks_to_a_fixed_subset_when_the_budget_cannot_afford_it_all(tmp_path):
    data = random_images(3000)  # 300 validation images
    cfg = TrainConfig(epochs=3, batch_size=256, log_every=100, device="cpu", eval_share=1e-3,
                      preview_interval_s=1e9)
    train_idx, val_idx = data.split(cfg.val_fraction, cfg.seed)
    trainer = Trainer(Run("ae", image_config("ae", data, train_idx, hidden=[16], latent_dim=2), data, "noise", cfg,
                          tmp_path))
    assert trainer.train() == "finished"
    val = [r for r in trainer.history if r["split"] == "val"]
    assert [r["epoch"] for r in val] == [1.0, 2.0, 3.0]  # one validation row per epoch, always
    assert [r["val_items"] for r in val] == [MIN_VALIDATION] * 3  # the same subset every time
    x = data.float_images(torch.from_numpy(val_idx[:MIN_VALIDATION]))
    with torch.no_grad():
        expected = r2_score(x, trainer.model.eval().reconstruct(x))
    assert val[-1]["r2"] == pytest.approx(expected, abs=1e-4)  # R² of the subset, about its own mean
    trainer._val_cost, trainer._epoch_time = 1e-6, 1.0  # validation is cheap again: the whole split
    assert trainer._validation_count(300) == 300


def test_train_rows_and_setup_event(digits, tmp_path):
    events = []
    cfg = TrainConfig(epochs=1, log_every=5, device="cpu")
    train_idx, _ = digits.split(cfg.val_fraction, cfg.seed)
    Trainer(Run("vae", image_config("vae", digits, train_idx, hidden=[32]), digits, "digits", cfg, tmp_path),
            events.append).train()
    setup = [e for e in events if e["type"] == "setup"]
    assert setup == [{"type": "setup", "device": "cpu", "world_size": 1, "batch_size": 64, "lr": cfg.lr,
                      "batch_note": "", "precision": "fp32", "compile": False, "channels_last": False,
                      "step_mode": "eager", "note": "CUDA graphs need a CUDA device"}]
    rows = [e for e in events if e["type"] == "metrics"]
    assert all(r["world_size"] == 1 for r in rows)
    assert read_checkpoint(tmp_path / "checkpoint.pt")["train_state"]["world_size"] == 1


def test_background_saver_writes_the_newest_snapshot_and_reports_on_the_training_thread(digits, tmp_path):
    model = tiny("vae", digits)
    written = []
    saver = BackgroundSaver(written.append)
    for step in range(3):
        saver.write(tmp_path / "checkpoint.pt", checkpoint_payload(model, train_state={"step": step}))
    saver.wait()
    assert written and written[-1] == tmp_path / "checkpoint.pt"
    assert read_checkpoint(tmp_path / "checkpoint.pt")["train_state"]["step"] == 2
    (tmp_path / "file").write_text("not a folder")
    saver.write(tmp_path / "file" / "checkpoint.pt", checkpoint_payload(model))
    with pytest.raises(CheckpointError, match="could not write the checkpoint"):
        saver.wait()


def test_compiled_loss_serves_the_steps_only(digits, monkeypatch):
    calls = []

    def compile_(fn):  # stands in for torch.compile (minutes on a loaded CPU): counts the calls it serves
        return lambda *a: calls.append(len(a[0])) or fn(*a)

    monkeypatch.setattr(torch, "compile", compile_)
    model = tiny("vae", digits)
    runner = StepRunner(model, model.configure_optimizers(1e-3), CPU, compile=True)
    runner((digits.float_images(torch.arange(16)),))
    assert calls == [16] and runner.mode == "compiled"
    assert "loss" not in vars(model)  # evaluation calls the model's own loss
    model.loss(digits.float_images(torch.arange(4)))
    assert calls == [16]


def test_batch_for_throughput_doubles_while_a_step_stays_short():
    launch_bound = {64: 1.0, 128: 1.0, 256: 1.1, 512: 1.5, 1024: 3.0}  # seconds per step by batch
    assert throughput_batch(launch_bound.__getitem__, 64, 4096) == 512
    assert throughput_batch(launch_bound.__getitem__, 64, 256) == 256  # the limit

    def out_of_memory(size):
        if size > 128:
            raise torch.cuda.OutOfMemoryError("no room")
        return 1.0

    assert throughput_batch(out_of_memory, 64, 4096) == 128


def test_step_seconds_leaves_the_model_alone_and_auto_batch_stays_put_off_cuda(digits, tmp_path):
    model = tiny("vae", digits)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert step_seconds(model, (digits.float_images(torch.arange(10)),), 32, 1e-3, CPU, steps=2) > 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    events = []
    cfg = TrainConfig(epochs=1, device="cpu", auto_batch=True)
    train_idx, _ = digits.split(cfg.val_fraction, cfg.seed)
    trainer = Trainer(Run("vae", image_config("vae", digits, train_idx, hidden=[32]), digits, "digits", cfg,
                          tmp_path), events.append)
    trainer.train()
    setup = next(e for e in events if e["type"] == "setup")
    assert setup["batch_size"] == 64 and setup["batch_note"] == "the batch is chosen for throughput on CUDA GPUs only"
    assert read_checkpoint(tmp_path / "checkpoint.pt")["train_state"]["config"]["auto_batch"] is False
