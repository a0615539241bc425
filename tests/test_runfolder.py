"""A run folder has one owner (core.train.folder): the lock and who holds it, the refuse-or-overwrite rule, orphan
temporary files, exact resumption from a checkpoint taken at any step, and the message a second writer
gets in the window."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from core.runs.recipe import image_run, resumed_run
from core.train.checkpoint import read_checkpoint
from core.train.folder import RunFolder, RunFolderBusy, RunFolderTaken
from core.train.loop import Control, TrainConfig
from core.train.metrics import read_metrics

TIMING = {"time", "samples_per_s", "eta_s"}  # what differs between two runs of the same training


def without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def test_a_folder_has_one_owner_and_says_who(tmp_path):
    folder = RunFolder(tmp_path / "run")
    assert folder.state().kind == "free" and not (tmp_path / "run").exists()  # looking creates nothing
    with folder.claim(fresh=True):
        state = RunFolder(tmp_path / "run").state()
        assert state.kind == "owned" and (state.owner.pid, state.owner.host) == (os.getpid(), socket.gethostname())
        with pytest.raises(RunFolderBusy) as err, RunFolder(tmp_path / "run").claim(fresh=False):
            pass
        message = str(err.value)
        assert message.startswith(f"{tmp_path / 'run'}: another training run is writing this folder (process "
                                  f"{os.getpid()} on {socket.gethostname()}, since ") and "\n" not in message
        with pytest.raises(RunFolderBusy):
            RunFolder(tmp_path / "run").check(fresh=False)
        (tmp_path / "run" / "checkpoint.pt").write_bytes(b"a run")
    assert folder.state().kind == "run" and folder.state().owner is None  # let go when the block ends


def test_a_fresh_run_refuses_a_kept_run_unless_overwriting_and_orphans_go(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"300 epochs of work")
    (run / "metrics.jsonl").write_text('{"step": 1}\n')
    orphans = [run / "checkpoint.pt.k3j2.tmp", run / "metrics.jsonl.x9.tmp"]  # a writer killed while saving
    for orphan in orphans:
        orphan.write_bytes(b"half")
    (run / "notes.tmp").write_text("the user's own file")
    with pytest.raises(RunFolderTaken, match="holds a run already; continue it with --resume .*--overwrite"):
        RunFolder(run).check(fresh=True)
    with pytest.raises(RunFolderTaken), RunFolder(run).claim(fresh=True):
        pass
    assert (run / "checkpoint.pt").read_bytes() == b"300 epochs of work"
    assert not any(p.exists() for p in orphans) and (run / "notes.tmp").exists()  # cleaned on the next open
    with RunFolder(run).claim(fresh=False):  # resuming it is fine
        assert (run / "checkpoint.pt").exists()
    with RunFolder(run).claim(fresh=True, overwrite=True):
        assert not (run / "checkpoint.pt").exists() and not (run / "metrics.jsonl").exists()


def test_a_folder_that_cannot_be_made_says_why(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(Exception, match=r"file/run: cannot use this folder for a run \(not a directory\)"), \
            RunFolder(tmp_path / "file" / "run").claim(fresh=True):
        pass


def test_a_run_stopped_at_any_step_resumes_to_the_rows_of_an_uninterrupted_one(digits, tmp_path):
    """Checkpoints as often as they come (interval 0), a stop between two logged rows (losses pending), resumed twice:
    the log is the uninterrupted run's, row for row."""
    config = dict(epochs=3, batch_size=64, log_every=5, device="cpu", preview_interval_s=0.0)
    image_run("vae", {"latent_dim": 4, "hidden": [32]}, digits, "digits", TrainConfig(**config),
              tmp_path / "reference").build_trainer(lambda e: None).train()

    run = image_run("vae", {"latent_dim": 4, "hidden": [32]}, digits, "digits",
                    TrainConfig(**config, checkpoint_interval_s=0.0), tmp_path / "run")
    for stop_after in (13, 31):  # steps 13 and 13 + 31: mid-epoch, mid-row
        control = Control()
        trainer = run.build_trainer(lambda e: None, control)
        batches = trainer.batch

        def batch(epoch, index, batches=batches, taken=[], stop_after=stop_after):
            taken.append(index)
            if len(taken) == stop_after:
                control.stop()  # asked during a step: obeyed before the next one
            return batches(epoch, index)

        trainer.batch = batch
        assert trainer.train() == "stopped"
        state = read_checkpoint(tmp_path / "run" / "checkpoint.pt")["train_state"]
        assert state["step"] % 5 and state["pending"]  # stopped with losses not yet in a row
        run = resumed_run(tmp_path / "run" / "checkpoint.pt", tmp_path / "run")
    assert run.build_trainer(lambda e: None).train() == "finished"
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert without_timing(rows) == without_timing(read_metrics(tmp_path / "reference" / "metrics.jsonl"))
    assert not list(Path(tmp_path / "run").glob("*.tmp"))


def test_the_window_says_so_when_another_run_writes_the_folder(window, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox
    shown = []
    monkeypatch.setattr(QMessageBox, "open", lambda box: shown.append((box.windowTitle(), box.text())))
    run = image_run("vae", {"latent_dim": 4, "hidden": [32]}, window.context.data, "digits",
                    TrainConfig(epochs=1, batch_size=128), tmp_path / "run")
    with RunFolder(tmp_path / "run").claim(fresh=True):  # as another process would hold it
        window.bridge.start(run)
        qtbot.waitUntil(lambda: len(shown) == 1, timeout=60_000)
    title, text = shown[0]
    assert title == "Training failed"
    assert text.startswith(f"{tmp_path / 'run'}: another training run is writing this folder (process {os.getpid()}")
    qtbot.waitUntil(lambda: not window.bridge.busy, timeout=60_000)
    assert window.panels["training"].state == "error" and not (tmp_path / "run" / "metrics.jsonl").exists()


def test_the_compare_demo_replaces_its_own_runs(digits, tmp_path):
    from core.image.compare import train_demo_zoo
    first = train_demo_zoo(digits, "digits", tmp_path, families=("ae",))[0].read_bytes()
    assert train_demo_zoo(digits, "digits", tmp_path, families=("ae",))[0].read_bytes() != first
