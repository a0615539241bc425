"""The runs list's headless session (what it lists, how it names a run's status, the comparison of ticked runs) and
the ``python main.py train …`` arguments the Setup builds for a run in a process of its own."""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

import main
from core.commands.train import build_run
from core.image.trainer import Run, Trainer
from core.runs.launch import RunProcesses
from core.runs.recipe import image_config
from core.sessions import Workspace
from core.sessions.command_line import train_argv
from core.sessions.runs import LIST_COLUMNS, RunsSession, read_run, run_curves, scan_runs
from core.sessions.setup import CONTINUE, SetupSession
from core.train.checkpoint import load_checkpoint
from core.train.loop import TrainConfig
from core.train.status import read_status, write_status


def trained(digits, out: Path, epochs: int = 2, **settings) -> Path:
    cfg = TrainConfig(epochs=epochs, log_every=5, device="cpu", batch_size=128)
    train_idx, _ = digits.split(cfg.val_fraction, cfg.seed)
    Trainer(Run("vae", image_config("vae", digits, train_idx, **{"hidden": [16], **settings}), digits, "digits", cfg,
                out)).train()
    return out


def same_run(a, b) -> None:
    assert (a.model_name, a.dataset_source, a.config, a.out_dir) == (b.model_name, b.dataset_source, b.config, b.out_dir)
    assert json.dumps(a.model_config, sort_keys=True) == json.dumps(b.model_config, sort_keys=True)


def test_the_argv_of_a_process_run_builds_the_run_start_would_build(digits, tmp_path):
    workspace = Workspace()
    workspace.set_data(digits, "digits")
    session = SetupSession(workspace)
    session.set_family("beta-tcvae")
    for name, value in {"latent_dim": 5, "hidden": "32 16", "beta": 2.5, "likelihood": "bernoulli"}.items():
        session.set_value(name, value)
    session.set_lr("3e-4")
    session.set_lr_schedule("cosine")
    session.set_batch_size(100)
    session.set_epochs(3)
    folder = tmp_path / "new"
    argv, out = train_argv(session, lambda _model, _data: folder)
    assert out == folder and argv[0] == "train" and "--nproc" not in argv
    in_process = session.start(lambda _model, _data: folder).run_here()
    same_run(build_run(main.build_parser().parse_args(argv)), in_process)

    # continuing a run: the same resumed run as Start's
    checkpoint = trained(digits, tmp_path / "old") / "checkpoint.pt"
    model, payload = load_checkpoint(checkpoint)
    workspace.set_model(model, checkpoint, train_state=payload["train_state"])
    session.set_epochs(4)
    session.set_plan(CONTINUE)
    assert session.plan_now == CONTINUE
    argv, out = train_argv(session, lambda *_: tmp_path / "unused")
    assert out == tmp_path / "old" and argv[:3] == ["train", "--resume", str(checkpoint)]
    resumed = build_run(main.build_parser().parse_args(argv))
    same_run(resumed, session.start(lambda *_: tmp_path / "unused").run_here())
    assert resumed.config.epochs == 4


def test_launch_choice_is_checked_said_and_remembered(digits):
    workspace = Workspace()
    workspace.set_data(digits, "digits")
    session = SetupSession(workspace)
    session.set_launch(True, 2)
    assert "in 2 processes" in session.describe_start()
    with pytest.raises(Exception, match="Processes must be"):
        session.set_launch(True, 0)
    other = SetupSession(workspace)
    other.restore({}, session.remembered()["common"])
    assert (other.own_process, other.processes) == (True, 2)


def test_runs_are_listed_with_status_progress_settings_and_final_metrics(digits, tmp_path):
    root = tmp_path / "runs"
    a = trained(digits, root / "a", epochs=2, latent_dim=4)
    b = trained(digits, root / "b", epochs=3, latent_dim=8)
    (root / "not-a-run").mkdir()
    elsewhere = trained(digits, tmp_path / "elsewhere" / "c", epochs=1)

    session = RunsSession(root)
    assert session.add(elsewhere) and not session.add(elsewhere)
    rows = session.scan().run_here()
    assert [r.name for r in rows] == ["c", "b", "a"]  # the newest first
    row_a = session.row(a)
    assert (row_a.status, row_a.family, row_a.dataset, row_a.epochs, row_a.batch_size, row_a.world_size) == \
        ("finished", "vae", "digits", 2, 128, 1)
    assert row_a.settings["latent_dim"] == 4 and "mean" not in row_a.settings
    cells = dict(zip(LIST_COLUMNS, row_a.cells()))
    assert cells["Progress"] == "2.0 / 2 epochs" and cells["Status"] == "finished"
    assert float(cells["Val loss"]) == pytest.approx(row_a.val_loss, rel=1e-3) and cells["R²"] != "—"

    session.set_ticked(b, True)
    session.set_ticked(a, True)
    table = session.comparison()
    assert [r[0] for r in table.rows] == ["b", "a"]  # in the order ticked
    assert "latent_dim" in table.columns and "hidden" not in table.columns  # only the settings that differ
    assert table.columns[-2:] == ("Val loss", "R²")
    column = dict(zip(table.columns, zip(*table.rows)))
    assert column["Epochs"] == ("3", "2") and column["Processes"] == ("1", "1") and column["latent_dim"] == ("8", "4")
    session.read_ticked().run_here()
    overlay = session.overlay()
    assert [name for name, _ in overlay] == ["b", "a"]
    loss_x, _ = overlay[0][1]["loss"]
    assert loss_x == [1.0, 2.0, 3.0]  # the validation curve: one point per epoch
    session.set_ticked(b, False)
    assert [r[0] for r in session.comparison().rows] == ["a"] and "hidden" in session.comparison().columns


def test_a_run_nobody_owns_that_says_running_was_killed(digits, tmp_path):
    folder = trained(digits, tmp_path / "k", epochs=1)
    status = read_status(folder)
    write_status(folder, "running", model="vae")  # as a process killed mid-run leaves it
    assert read_run(folder).status == "killed"
    (folder / "status.json").unlink()  # an older version's run: its log tells
    assert read_run(folder).status == "finished"
    assert status["state"] == "finished"


def test_a_killed_process_run_shows_killed_and_an_interrupted_one_stopped(tmp_path):
    def start(name: str) -> RunProcesses:
        return RunProcesses(["train", "--dataset", "digits", "--model", "vae", "--hidden", "16", "--epochs", "2000",
                             "--out", str(tmp_path / name)], log_dir=tmp_path / f"{name}-logs").start()

    killed, stopped = start("killed"), start("stopped")
    deadline = time.monotonic() + 120
    while not all((tmp_path / n / "metrics.jsonl").is_file() for n in ("killed", "stopped")):
        assert time.monotonic() < deadline and killed.poll() is None and stopped.poll() is None
        time.sleep(0.2)
    assert {r.name: r.status for r in scan_runs([tmp_path], [])} == {"killed": "running", "stopped": "running"}
    os.kill(killed.pids[0], signal.SIGKILL)
    stopped.interrupt()
    assert killed.wait() != 0 and stopped.wait() == 128 + signal.SIGINT
    assert {r.name: r.status for r in scan_runs([tmp_path], [])} == {"killed": "killed", "stopped": "stopped"}


def test_curves_take_validation_rows_where_a_metric_has_them():
    rows = [{"split": "train", "epoch": 0.5, "loss": 3.0, "kl": 1.0, "step": 5},
            {"split": "val", "epoch": 1.0, "loss": 2.0, "r2": None},
            {"split": "train", "epoch": 1.0, "loss": 2.5, "kl": 0.5}]
    assert run_curves(rows) == {"loss": ([1.0], [2.0]), "kl": ([0.5, 1.0], [1.0, 0.5])}
