"""Run folders as their files tell it (what a runs list shows), and runs started as processes of their own."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from core.errors import TrainingError
from core.image.trainer import Run, Trainer
from core.runs.launch import RunProcesses
from core.runs.listing import latest_rows, list_runs, run_info
from core.runs.recipe import image_config
from core.train.loop import Control, TrainConfig
from core.train.status import read_status, write_status
from models.vae import MLPVAE


def digits_run(digits, out_dir, **config) -> Run:
    cfg = TrainConfig(**{"epochs": 1, "log_every": 5, "device": "cpu", **config})
    train_idx, _ = digits.split(cfg.val_fraction, cfg.seed)
    return Run("vae", image_config("vae", digits, train_idx, hidden=[32]), digits, "digits", cfg, out_dir)


def test_finished_stopped_and_failed_runs_are_listed_from_their_files(digits, tmp_path, monkeypatch):
    Trainer(digits_run(digits, tmp_path / "done", epochs=2)).train()
    control = Control()
    control.stop()
    Trainer(digits_run(digits, tmp_path / "stopped"), control=control).train()
    loss = MLPVAE.loss

    def poisoned(self, x):
        out = loss(self, x)
        return {**out, "total": out["total"] * float("nan")}

    monkeypatch.setattr(MLPVAE, "loss", poisoned)
    with pytest.raises(TrainingError):
        Trainer(digits_run(digits, tmp_path / "failed")).train()
    (tmp_path / "not-a-run").mkdir()

    runs = {r.folder.name: r for r in list_runs(tmp_path)}
    assert set(runs) == {"done", "stopped", "failed"}
    assert list(runs) == ["failed", "stopped", "done"]  # the most recent first
    done = runs["done"]
    assert (done.state, done.model, done.dataset, done.epochs, done.epoch, done.progress, done.world_size) == \
        ("finished", "vae", "digits", 2, 2.0, 1.0, 1)
    assert done.loss == [r for r in latest_rows(tmp_path / "done" / "metrics.jsonl") if r["split"] == "val"][-1]["loss"]
    assert runs["stopped"].state == "stopped"
    assert runs["failed"].state == "failed" and runs["failed"].message.startswith("the loss became nan")


def test_val_loss_and_r2_are_blank_until_the_first_validation(tmp_path):
    folder = tmp_path / "a"
    write_status(folder, "running", model="vae")
    rows = [{"step": 5, "epoch": 0.2, "split": "train", "loss": 3.0, "r2": 0.1}]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    info = run_info(folder)
    assert (info.epoch, info.loss, info.r2) == (0.2, None, None)  # not the training loss
    rows += [{"step": 26, "epoch": 1.0, "split": "val", "loss": 2.5, "r2": 0.4},
             {"step": 31, "epoch": 1.2, "split": "train", "loss": 2.0, "r2": 0.5}]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    info = run_info(folder)
    assert (info.epoch, info.loss, info.r2) == (1.2, 2.5, 0.4)


def test_a_run_whose_process_is_gone_died(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    write_status(tmp_path / "a", "running", model="vae")
    status = read_status(tmp_path / "a")
    status["pid"] = gone.pid
    (tmp_path / "a" / "status.json").write_text(json.dumps(status))
    assert run_info(tmp_path / "a").state == "died"
    write_status(tmp_path / "b", "running", model="vae")  # this process: alive
    assert run_info(tmp_path / "b").state == "running" and run_info(tmp_path / "b").model == "vae"
    assert run_info(tmp_path / "nothing") is None


def test_latest_rows_skip_a_half_written_line_and_read_only_the_end(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": i, "pad": "x" * 50}) + "\n" for i in range(100)) + '{"step": 1')
    assert [r["step"] for r in latest_rows(path)] == list(range(100))
    monkeypatch.setattr("core.runs.listing.TAIL_BYTES", 200)
    rows = latest_rows(path)
    assert rows and [r["step"] for r in rows] == list(range(100 - len(rows), 100))


def test_a_run_in_its_own_process_is_followed_to_its_end(tmp_path):
    out = tmp_path / "run"
    proc = RunProcesses(["train", "--dataset", "digits", "--model", "vae", "--hidden", "32", "--epochs", "1",
                         "--out", str(out)], log_dir=out / "logs").start()
    states = set()
    while proc.poll() is None:
        info = run_info(out)
        if info:
            states.add(info.state)
        time.sleep(0.1)
    assert proc.returncode == 0 and proc.failure is None
    assert run_info(out).state == "finished" and states <= {"running", "finished"}
    assert "wrote" in (out / "logs" / "rank-0.log").read_text()
