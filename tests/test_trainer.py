"""The training engine: R², the metrics log, the loop's events, pause/resume/stop from another thread,
resuming from checkpoints, NaN and crash handling, devices, and the default VAE's quality."""
from __future__ import annotations

import itertools
import json
import threading
import time

import numpy as np
import pytest
import torch
from sklearn.metrics import r2_score as sk_r2_score

import main
from core.errors import LatentExplorerError, TrainingError
from core.image.trainer import Run, Trainer
from core.runs.quicktrain import train_for
from core.runs.recipe import image_config
from core.runs.worker import TrainingWorker
from core.train.checkpoint import load_checkpoint, read_checkpoint
from core.train.device import pick_device
from core.train import evaluation
from core.train.evaluation import EvalBudget
from core.train.loop import Control, TrainConfig
from core.train.metrics import MetricsLog, MetricsReader, r2_score, read_metrics
from models.base import GenerativeModel
from models.vae import MLPVAE

ROW_KEYS = {"step", "epoch", "split", "loss", "r2"}


def make_run(data, out_dir=None, resume=None, **config) -> Run:
    cfg = TrainConfig(**{"epochs": 2, "log_every": 5, "device": "cpu", **config})
    train_idx, _ = data.split(cfg.val_fraction, cfg.seed)
    return Run("vae", image_config("vae", data, train_idx, hidden=[32]), data, "digits", cfg, out_dir, resume)


def wait_for(events: list, worker: TrainingWorker, test, timeout: float = 30.0) -> dict:
    """Drain the worker's queue into ``events`` until one of them passes ``test``; returns the first that does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events.extend(worker.drain())
        match = next((e for e in events if test(e)), None)
        if match:
            return match
        time.sleep(0.01)
    raise AssertionError(f"no such event within {timeout} s; got {[e['type'] for e in events][-10:]}")


# --- R² and the metrics log -------------------------------------------------------------------
def test_r2_of_perfect_and_mean_predictions():
    x = torch.rand(50, 1, 4, 4)
    assert r2_score(x, x) == 1.0
    assert r2_score(x, x.mean(0, keepdim=True).expand_as(x)) == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(r2_score(torch.ones(3, 4), torch.zeros(3, 4)))  # no variance: undefined


def test_r2_matches_sklearn_variance_weighted():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(40, 3, 5, 5, generator=g) * torch.linspace(0.1, 2, 75).view(1, 3, 5, 5)
    pred = x + 0.3 * torch.randn(40, 3, 5, 5, generator=g)
    expected = sk_r2_score(x.flatten(1).double().numpy(), pred.flatten(1).double().numpy(),
                           multioutput="variance_weighted")
    assert r2_score(x, pred) == pytest.approx(expected, abs=1e-9)


def test_metrics_reader_waits_for_a_half_written_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    reader = MetricsReader(path)
    assert reader.read_new() == []  # no file yet
    with open(path, "w") as f:
        f.write(json.dumps({"step": 1}) + "\n" + '{"step": ')
    assert reader.read_new() == [{"step": 1}]
    assert reader.read_new() == []
    with open(path, "a") as f:
        f.write("2}\n")
    assert reader.read_new() == [{"step": 2}]
    new_run = [{"step": 1, "run": 2, "note": "a longer file than before"}, {"step": 2, "run": 2}]
    path.write_text("".join(json.dumps(r) + "\n" for r in new_run))  # a new run starts the file afresh
    assert reader.read_new() == new_run


def test_metrics_log_starts_afresh_with_the_history_and_writes_nan_as_null(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 99}\n')  # a previous run's rows
    log = MetricsLog(path, [{"step": 1, "loss": 2.0}])
    log.write({"step": 2, "loss": float("nan"), "r2": float("inf")})
    log.close()
    assert read_metrics(path) == [{"step": 1, "loss": 2.0}, {"step": 2, "loss": None, "r2": None}]


# --- the loop ---------------------------------------------------------------------------------
def test_training_lowers_the_loss_and_logs_complete_rows_readable_while_written(digits, tmp_path):
    reader = MetricsReader(tmp_path / "metrics.jsonl")
    read_during_run: list[dict] = []
    events: list[dict] = []

    def on_event(e):
        events.append(e)
        if e["type"] == "metrics":  # the row is already on disk when its event goes out
            read_during_run.extend(reader.read_new())
            assert read_during_run[-1]["step"] == e["step"] and read_during_run[-1]["split"] == e["split"]

    trainer = Trainer(make_run(digits, tmp_path, epochs=4), on_event)
    assert trainer.train() == "finished"
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert rows == read_during_run == json.loads(json.dumps(trainer.history))
    assert all(ROW_KEYS | {"recon", "kl"} <= set(r) for r in rows)
    train = [r for r in rows if r["split"] == "train"]
    val = [r for r in rows if r["split"] == "val"]
    assert [r["epoch"] for r in val] == [1.0, 2.0, 3.0, 4.0]
    assert val[-1]["loss"] < 0.8 * val[0]["loss"] and train[-1]["loss"] < train[0]["loss"]
    assert val[-1]["r2"] > val[0]["r2"]
    steps = [r["step"] for r in train]
    assert steps == sorted(steps) and train[-1]["step"] == trainer.step == 4 * 26  # 1617 images / 64
    assert val[-1]["progress"] == 1.0
    kinds = [e["type"] for e in events]
    assert kinds[0] == "state" and events[-1] == {"type": "state", "state": "finished"}
    assert kinds.count("checkpoint") >= 1 and (tmp_path / "checkpoint.pt").exists()
    preview = [e for e in events if e["type"] == "preview"][-1]
    assert {k: preview[k].shape for k in ("original", "reconstruction", "samples")} == {
        k: (16, 1, 8, 8) for k in ("original", "reconstruction", "samples")}
    assert preview["original"].dtype == np.uint8


def test_pause_resume_and_stop_from_another_thread(digits, tmp_path):
    worker = TrainingWorker(make_run(digits, tmp_path, epochs=500)).start()
    events: list[dict] = []
    wait_for(events, worker, lambda e: e["type"] == "metrics")
    worker.pause()
    wait_for(events, worker, lambda e: e.get("state") == "paused")
    step = worker.trainer.step
    time.sleep(0.3)
    assert worker.trainer.step == step and worker.alive
    worker.resume()
    wait_for(events, worker, lambda e: e["type"] == "metrics" and e["step"] > step)
    worker.stop()
    wait_for(events, worker, lambda e: e["type"] == "done")
    worker.join(5)
    assert not worker.alive
    assert [e["state"] for e in events if e["type"] == "state"] == ["running", "paused", "running", "stopped"]
    saved = read_checkpoint(tmp_path / "checkpoint.pt")
    assert saved["train_state"]["step"] == worker.trainer.step > step
    assert saved["history"] == worker.trainer.history


def test_previews_follow_the_run_and_show_its_last_step_whatever_the_budget(digits, monkeypatch):
    monkeypatch.setattr(EvalBudget, "allows", lambda self, cost: False)  # a machine too busy for any evaluation
    events: list[dict] = []
    finished = Trainer(make_run(digits, epochs=2), events.append)
    assert finished.train() == "finished"
    previews = [e["step"] for e in events if e["type"] == "preview"]
    assert previews[-1] == finished.step == 2 * 26  # the final weights are shown

    control, events = Control(), []
    stopped = Trainer(make_run(digits, epochs=5), events.append, control)
    step = stopped.model.train_step
    stopped.model.train_step = lambda *a: (control.stop() if stopped.step == 30 else None, step(*a))[1]
    assert stopped.train() == "stopped"
    assert [e["step"] for e in events if e["type"] == "preview"][-1] == stopped.step == 31

    monkeypatch.setattr(evaluation, "PREVIEW_MAX_LAG_S", 0.0)  # previews may lag the run by no time at all
    events = []
    Trainer(make_run(digits, epochs=2, preview_interval_s=0.0), events.append).train()
    logged = [e["step"] for e in events if e["type"] == "metrics" and e["split"] == "train"]
    assert [e["step"] for e in events if e["type"] == "preview"] == logged


def test_control_flags():
    c = Control()
    assert not c.paused and not c.stop_requested
    c.pause()
    assert c.paused
    threading.Timer(0.05, c.stop).start()
    c.wait_if_paused()  # stop wakes a paused loop so that it can save and end
    assert c.stop_requested and not c.paused


def test_resume_continues_counters_history_and_log(digits, tmp_path):
    control = Control()
    first = Trainer(make_run(digits, tmp_path, epochs=3), control=control)
    stop_at = 26 + 7  # mid-way through the second epoch
    original_step = first.model.train_step

    def step_then_maybe_stop(*a):
        out = original_step(*a)
        if first.step + 1 == stop_at:
            control.stop()
        return out

    first.model.train_step = step_then_maybe_stop
    assert first.train() == "stopped"
    payload = read_checkpoint(tmp_path / "checkpoint.pt")
    assert payload["train_state"].items() >= {"epoch": 1, "step": stop_at, "epoch_step": 7}.items()

    second = Trainer(make_run(digits, tmp_path, epochs=3, resume=payload))
    assert (second.epoch, second.step) == (1, stop_at) and second.history == first.history
    model, _ = load_checkpoint(tmp_path / "checkpoint.pt")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), second.model.state_dict().values()))
    assert second.train() == "finished"
    assert second.step == 3 * 26  # the rest of epoch 2 only, then epoch 3
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert rows[:len(first.history)] == json.loads(json.dumps(first.history))
    steps = [r["step"] for r in rows if r["split"] == "train"]
    assert steps == sorted(set(steps))  # no step logged twice
    assert [r["epoch"] for r in rows if r["split"] == "val"] == [1.0, 2.0, 3.0]


def recording_rates(trainer: Trainer, rates: list[float], stop_at: int | None = None) -> Trainer:
    """Makes ``trainer`` append to ``rates`` the learning rate of each step it runs (stopped before step
    ``stop_at``)."""
    step = trainer.model.train_step

    def recorded(*a):
        if trainer.step + 1 == stop_at:
            trainer.control.stop()
        rates.append(trainer.optimizers["main"].param_groups[0]["lr"])
        return step(*a)

    trainer.model.train_step = recorded
    return trainer


def rates_per_step(trainer: Trainer, stop_at: int | None = None) -> list[float]:
    """Trains ``trainer`` (stopped before step ``stop_at``), returning the learning rate of each step it ran."""
    rates = []
    recording_rates(trainer, rates, stop_at).train()
    return rates


def test_cosine_schedule_trains_each_epoch_at_its_share_of_the_rate_also_when_resumed(digits, tmp_path):
    constant = rates_per_step(Trainer(make_run(digits, epochs=3, lr=1e-3)))
    assert constant == [1e-3] * 78  # 26 steps an epoch
    cosine = rates_per_step(Trainer(make_run(digits, tmp_path / "whole", epochs=3, lr=1e-3, lr_schedule="cosine")))
    assert cosine == pytest.approx([1e-3] * 26 + [7.5e-4] * 26 + [2.5e-4] * 26)  # (1 + cos(pi e / 3)) / 2
    stopped = Trainer(make_run(digits, tmp_path / "resumed", epochs=3, lr=1e-3, lr_schedule="cosine"))
    first = rates_per_step(stopped, stop_at=26 + 7)
    payload = read_checkpoint(tmp_path / "resumed" / "checkpoint.pt")
    resumed = Trainer(make_run(digits, tmp_path / "resumed", epochs=3, lr=1e-3, lr_schedule="cosine", resume=payload))
    assert first + rates_per_step(resumed) == pytest.approx(cosine)
    with pytest.raises(LatentExplorerError, match="lr schedule must be one of constant, cosine"):
        TrainConfig(lr_schedule="step").check()


def rates_within_time(run: Run, seconds: float, cooldown: float) -> list[float]:
    """``train_for(run)`` on a clock that ticks once per look (one look per logged row): each step's rate."""
    rates, ticks, build = [], iter(range(10**6)), run.build_trainer
    run.build_trainer = lambda on_event, control: recording_rates(build(on_event, control), rates)
    train_for(run, seconds, clock=lambda: next(ticks), cooldown=cooldown)
    return rates


def test_a_time_budget_ends_with_its_rate_cooling_down_to_zero_across_epochs(digits):
    constant = rates_within_time(make_run(digits, lr=1e-3, log_every=1), 40, cooldown=0)
    assert len(constant) > 30 and set(constant) == {1e-3}
    rates = rates_within_time(make_run(digits, lr=1e-3, log_every=1), 40, cooldown=0.5)
    assert len(rates) > 26  # (26 steps an epoch: the second epoch keeps the cooled rate)
    full, falling = list(itertools.takewhile(lambda r: r == 1e-3, rates)), [r for r in rates if r < 1e-3]
    assert 15 <= len(full) <= 25  # about half of the budget at the full rate
    assert len(full) + len(falling) == len(rates) and all(b < a for a, b in zip(falling, falling[1:])), rates
    assert falling[-1] < 1e-4


def nan_after(calls: int, monkeypatch):
    """Make every VAE loss NaN after ``calls`` calls."""
    count = {"n": 0}
    loss = MLPVAE.loss

    def poisoned(self, x):
        out = loss(self, x)
        count["n"] += 1
        if count["n"] > calls:
            out["total"] = out["total"] * float("nan")
        return out

    monkeypatch.setattr(MLPVAE, "loss", poisoned)


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(digits, tmp_path, monkeypatch):
    nan_after(26 + 1 + 10, monkeypatch)  # epoch 1 (26 steps, 1 validation pass) trains fine
    trainer = Trainer(make_run(digits, tmp_path, epochs=3, checkpoint_interval_s=0))
    with pytest.raises(TrainingError) as err:
        trainer.train()
    message = str(err.value)
    assert "the loss became nan at step 40 (epoch 2)" in message and "lower learning rate" in message
    assert str(tmp_path / "checkpoint.pt") in message
    model, payload = load_checkpoint(tmp_path / "checkpoint.pt")
    # the last checkpoint is the last good one: mid-epoch at the last finite step (interval 0: every step)
    assert payload["train_state"]["epoch"] == 1 and payload["train_state"]["step"] == 36
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]
    # The weights are NaN now: saving them is refused, the good file stays.
    before = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(TrainingError, match="not saved"):
        trainer.save()
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def test_absurd_learning_rate_ends_in_training_error_not_a_crash(digits, tmp_path):
    trainer = Trainer(make_run(digits, tmp_path, epochs=3, lr=1e9))  # (1e6 only diverges, to a loss of 1e28)
    with pytest.raises(TrainingError, match="Try a lower learning rate"):
        trainer.train()


def test_worker_reports_errors_as_events(digits, monkeypatch):
    nan_after(3, monkeypatch)
    worker = TrainingWorker(make_run(digits)).start()
    events: list[dict] = []
    error = wait_for(events, worker, lambda e: e["type"] == "error")
    assert error["message"].startswith("the loss became nan") and "traceback" not in error
    wait_for(events, worker, lambda e: e["type"] == "done")

    def crash(self, x, optimizers):
        raise RuntimeError("boom")

    monkeypatch.setattr(GenerativeModel, "train_step", crash)
    worker = TrainingWorker(make_run(digits)).start()
    events = []
    error = wait_for(events, worker, lambda e: e["type"] == "error")
    assert error["message"] == "RuntimeError: boom" and "in crash" in error["traceback"]
    wait_for(events, worker, lambda e: e["type"] == "done")
    worker.join(5)
    assert not worker.alive


# --- devices ------------------------------------------------------------------------------------
def test_device_choice(digits):
    best = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert pick_device("auto") == pick_device(None) == torch.device(best)
    assert pick_device("cpu") == torch.device("cpu")
    with pytest.raises(LatentExplorerError, match="unknown device 'gpu0'"):
        pick_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(LatentExplorerError, match=r"device 'cuda' is not available here \(available: cpu\)"):
            pick_device("cuda")
        with pytest.raises(LatentExplorerError, match="not available"):
            Trainer(make_run(digits, device="cuda"))
    trainer = Trainer(make_run(digits, device="cpu"))
    assert trainer.device == torch.device("cpu") and trainer.model.device == torch.device("cpu")


# --- out of the box -----------------------------------------------------------------------------
def test_default_vae_on_digits_reconstructs_well(tmp_path, capsys):
    """``python main.py train --dataset digits --model vae`` with every default gives a good model."""
    assert main.main(["train", "--dataset", "digits", "--model", "vae", "--out", str(tmp_path)]) == 0
    val = [r for r in read_metrics(tmp_path / "metrics.jsonl") if r["split"] == "val"]
    assert len(val) == TrainConfig.epochs
    assert val[-1]["r2"] >= 0.8, f"validation R² {val[-1]['r2']:.3f}"
    model, payload = load_checkpoint(tmp_path / "checkpoint.pt")
    assert payload["model"]["name"] == "vae" and payload["train_state"]["epoch"] == TrainConfig.epochs
