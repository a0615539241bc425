"""Following a run another process writes: headless (core.runs.follow) and in the window (File ▸ Follow a run
folder), against a real `python main.py train` subprocess: curves, previews and the Setup panel follow it, and
it ends Finished or Stopped when that process ends."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from core.errors import DataError
from core.image.trainer import Run, Trainer
from core.runs.follow import RunFollower
from core.runs.recipe import image_config
from core.train.checkpoint import load_checkpoint
from core.train.folder import RunFolder
from core.train.loop import TrainConfig
from core.train.metrics import MetricsLog, read_metrics

REPO = Path(__file__).resolve().parents[1]
EPOCHS = 12  # of the run followed in the window


def test_follower_reports_new_rows_and_each_checkpoint_rewrite(tmp_path):
    with pytest.raises(DataError, match="not a run folder"):
        RunFollower(tmp_path)
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text(json.dumps({"step": 1, "loss": 2.0}) + "\n" + '{"step": 2, "lo')  # a half-written line
    follower = RunFollower(tmp_path)
    assert follower.poll() == ([{"step": 1, "loss": 2.0}], None, False)
    with open(metrics, "a") as f:
        f.write('ss": 1.5}\n')
    (tmp_path / "tmp.pt").write_bytes(b"first")
    os.replace(tmp_path / "tmp.pt", tmp_path / "checkpoint.pt")  # as the trainer writes it
    assert follower.poll() == ([{"step": 2, "loss": 1.5}], tmp_path / "checkpoint.pt", False)
    assert follower.poll() == ([], None, False)
    (tmp_path / "tmp.pt").write_bytes(b"second")
    os.replace(tmp_path / "tmp.pt", tmp_path / "checkpoint.pt")
    assert follower.poll() == ([], tmp_path / "checkpoint.pt", False)
    metrics.write_text(json.dumps({"step": 1, "loss": 9.0}) + "\n")  # resumed: the log starts over
    assert follower.poll() == ([{"step": 1, "loss": 9.0}], None, True)


def test_follower_tells_when_the_writer_let_go_finished_or_stopped(tmp_path):
    with RunFolder(tmp_path).claim(fresh=True):
        log = MetricsLog(tmp_path / "metrics.jsonl")
        assert RunFolder(tmp_path).state().kind == "owned"
        follower = RunFollower(tmp_path)
        log.write({"step": 1, "split": "train", "progress": 0.5})
        assert follower.poll()[0] == [{"step": 1, "split": "train", "progress": 0.5}] and follower.ended == ""
        log.write({"step": 2, "split": "val", "progress": 1.0})
        assert len(follower.poll()[0]) == 1 and follower.ended == ""  # the writer may still save its checkpoint
        log.close()
    assert follower.poll() == ([], None, False) and follower.ended == "finished"

    with RunFolder(tmp_path).claim(fresh=False):  # resumed for more epochs
        resumed = MetricsLog(tmp_path / "metrics.jsonl", read_metrics(tmp_path / "metrics.jsonl"))
        resumed.write({"step": 3, "split": "train", "progress": 0.75})
        follower = RunFollower(tmp_path)
        assert len(follower.poll()[0]) == 3 and follower.ended == ""
        resumed.close()
    follower.poll()  # (or its process was killed: the lock goes with it)
    assert follower.ended == "stopped"  # the last row tells, not the history's 1.0


def train_in_another_process(run_dir: Path, epochs: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "main.py", "train", "--dataset", "digits", "--model", "vae",
                             "--epochs", str(epochs), "--batch-size", "128", "--latent-dim", "4", "--out", str(run_dir)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def paused_at_its_first_checkpoint(process: subprocess.Popen, run_dir: Path) -> None:
    """Stop ``process`` (SIGSTOP) as soon as its run folder holds a checkpoint: a run of digits trains its epochs in
    tens of milliseconds, and the window must be seen following it while it still trains, however busy the machine."""
    deadline = time.monotonic() + 60
    while not (run_dir / "checkpoint.pt").exists():
        assert process.poll() is None and time.monotonic() < deadline, "the run wrote no checkpoint"
        time.sleep(0.001)
    process.send_signal(signal.SIGSTOP)


def test_the_window_follows_a_headless_run_as_it_trains_until_it_finishes(qtbot, window, tmp_path):
    run_dir = tmp_path / "run"
    setup, training = window.panels["setup"], window.panels["training"]
    setup.family_combo.setCurrentIndex(setup.family_combo.findData("gan"))  # the form shows something else
    process = train_in_another_process(run_dir, epochs=EPOCHS)
    try:
        rows = []
        window.bridge.metrics.connect(rows.append)
        paused_at_its_first_checkpoint(process, run_dir)
        window.follow_run(run_dir)
        assert training.state == "following" and training.stop_button.isEnabled() and training.has_run
        assert str(run_dir) in training.run_label.text()
        assert setup.origin_line.text() == f"Following {run_dir}: another process trains it"
        qtbot.waitUntil(lambda: window.context.checkpoint_path == run_dir / "checkpoint.pt", timeout=60_000)
        assert window.context.model.name == "vae"  # loaded while the run goes on
        assert setup.family_combo.currentData() == "vae"  # and Setup shows it, saying from where
        assert setup.origin_line.text().startswith(f"Following {run_dir}: another process trains it · vae, ")
        assert setup.origin_line.text().endswith(f"so far on digits: the settings of the followed run {run_dir}")
        qtbot.waitUntil(lambda: all(training.previews[k].has_image for k in ("original", "reconstruction", "samples")),
                        timeout=30_000)  # computed here from the loaded model
        assert training.state == "following"
        process.send_signal(signal.SIGCONT)
        assert process.wait(120) == 0, process.stderr.read()
        qtbot.waitUntil(lambda: training.state == "finished", timeout=30_000)  # not "Following" forever
        written = read_metrics(run_dir / "metrics.jsonl")
        assert rows == written and {"train", "val"} <= {r["split"] for r in rows}
        assert f"epoch {EPOCHS}.0 / {EPOCHS}" in training.progress.format()
        assert training.run_label.text() == f"Followed <b>{run_dir}</b>: the run finished"
        assert window.bridge.follower is None and not training.stop_button.isEnabled()
        assert training.start_button.isEnabled()
        qtbot.waitUntil(lambda: load_checkpoint(window.context.checkpoint_path)[1]["train_state"]["epoch"] == EPOCHS,
                        timeout=30_000)
        qtbot.waitUntil(lambda: setup.origin_line.text() ==  # no longer "so far"
                        f"vae, {EPOCHS} of {EPOCHS} epochs on digits: the settings of the followed run {run_dir}",
                        timeout=30_000)
    finally:
        process.kill()
        process.wait()


def test_a_followed_run_is_let_go_by_stop_and_ends_stopped_when_its_process_dies(qtbot, window, tmp_path):
    run_dir = tmp_path / "run"
    setup, training = window.panels["setup"], window.panels["training"]
    process = train_in_another_process(run_dir, epochs=5000)
    try:
        qtbot.waitUntil(lambda: (run_dir / "checkpoint.pt").exists(), timeout=60_000)
        window.follow_run(run_dir)
        qtbot.waitUntil(lambda: window.context.checkpoint_path == run_dir / "checkpoint.pt", timeout=60_000)
        assert not setup.continue_radio.isEnabled()
        assert setup.continue_radio.toolTip() == "Cannot continue: another process is still training it"
        qtbot.mouseClick(training.stop_button, Qt.MouseButton.LeftButton)  # let it go
        assert training.state == "stopped" and window.bridge.follower is None
        assert training.run_label.text() == f"Followed <b>{run_dir}</b>: let go: it goes on in its own process"
        assert process.poll() is None

        window.follow_run(run_dir)
        qtbot.waitUntil(lambda: training.progress.value() > 0, timeout=60_000)
        process.kill()  # no chance to tidy up: the lock on its log goes with it
        process.wait()
        qtbot.waitUntil(lambda: training.state == "stopped", timeout=30_000)
        assert "its process ended before the last epoch" in training.run_label.text()
        assert window.bridge.follower is None and setup.continue_radio.isEnabled()  # now it can be continued here
    finally:
        process.kill()
        process.wait()


def test_following_a_folder_that_is_not_a_run_says_so(qtbot, window, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "open", lambda box: shown.append(box.text()))
    window.follow_run(tmp_path)
    assert shown == [f"{tmp_path}: not a run folder (it has no metrics.jsonl or checkpoint.pt)"]
    assert window.panels["training"].state == "idle" and window.bridge.follower is None


def test_the_follower_survives_garbage_torn_lines_and_a_resumed_run(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_bytes(b'{"step": 1}\ngarbage\n42\n[1, 2]\n\xff\xfe\n{"step": 2}\n{"step": 3, "lo')
    follower = RunFollower(tmp_path)  # a new follower does not fail on them
    assert follower.poll() == ([{"step": 1}, {"step": 2}], None, False) and follower.skipped == 4
    with open(metrics, "ab") as f:
        f.write(b'ss": 0.5}\n')  # the torn line, completed
    assert follower.poll() == ([{"step": 3, "loss": 0.5}], None, False)
    # resumed into the folder: a new log that starts with the same bytes and is longer than the old one
    log = MetricsLog(metrics, [{"step": 1}, {"step": 2}, {"step": 3, "loss": 0.5}, {"step": 4}, {"step": 5}])
    log.write({"step": 6})
    assert follower.poll() == ([{"step": s} for s in (1, 2)] + [{"step": 3, "loss": 0.5}]
                               + [{"step": s} for s in (4, 5, 6)], None, True)
    log.write({"step": 7})
    assert follower.poll() == ([{"step": 7}], None, False)
    log.close()
    metrics.unlink()  # gone for a while: nothing, no error
    assert follower.poll() == ([], None, False)
    follower.close()


def test_the_window_keeps_following_through_garbage_and_a_resumed_run(qtbot, window, tmp_path):
    with RunFolder(tmp_path).claim(fresh=True):  # a writer holds the folder throughout
        log = MetricsLog(tmp_path / "metrics.jsonl", [{"step": 1, "epoch": 0.5, "split": "train", "loss": 3.0}])
        rows, restarts, notices = [], [], []
        window.bridge.metrics.connect(rows.append)
        window.bridge.following.connect(restarts.append)
        window.bridge.notice.connect(notices.append)
        window.follow_run(tmp_path)
        qtbot.waitUntil(lambda: len(rows) == 1, timeout=10_000)
        log._file.write("not json\n42\n")  # as a broken writer would
        log.write({"step": 2, "epoch": 1.0, "split": "train", "loss": 2.0})
        qtbot.waitUntil(lambda: len(rows) == 2, timeout=10_000)
        assert notices == [f"{tmp_path / 'metrics.jsonl'}: skipped 2 unreadable line(s)"]
        assert window.status_line.text() == notices[0]
        log.close()
        resumed = MetricsLog(tmp_path / "metrics.jsonl", rows[:1])  # a run resumed into the folder
        resumed.write({"step": 2, "epoch": 1.0, "split": "train", "loss": 1.5})
        qtbot.waitUntil(lambda: len(rows) == 4, timeout=10_000)
        assert restarts == [str(tmp_path), str(tmp_path)] and rows[2:] == [rows[0], {**rows[1], "loss": 1.5}]
        assert window.bridge.state == "following" and window.panels["training"].state == "following"
        resumed.close()


def test_a_followed_runs_next_checkpoint_leaves_the_data_set_chosen_meanwhile(qtbot, window, tmp_path, digits):
    run_dir = tmp_path / "run"
    cfg = TrainConfig(epochs=1, batch_size=128, device="cpu")
    train_idx, _ = digits.split(cfg.val_fraction, cfg.seed)
    Trainer(Run("vae", image_config("vae", digits, train_idx, hidden=[16]), digits, "digits", cfg, run_dir)).train()
    other = tmp_path / "other.npz"
    np.savez(other, images=(np.random.default_rng(0).random((40, 9, 9)) * 255).astype(np.uint8))
    setup, said = window.panels["setup"], []
    window.context.status.connect(said.append)
    with RunFolder(run_dir).claim(fresh=False):  # (as the process that trains it holds it)
        window.follow_run(run_dir)
        qtbot.waitUntil(lambda: window.context.checkpoint_path == run_dir / "checkpoint.pt", timeout=60_000)
        setup.load_source(str(other))  # the user's choice, while following
        qtbot.waitUntil(lambda: window.context.data.image_shape == (1, 9, 9), timeout=60_000)
        (run_dir / "next.pt").write_bytes((run_dir / "checkpoint.pt").read_bytes())
        os.replace(run_dir / "next.pt", run_dir / "checkpoint.pt")  # the followed run's next checkpoint
        qtbot.waitUntil(lambda: any("newer model is not shown" in m for m in said) or setup.session.loading
                        or window.context.data.image_shape != (1, 9, 9), timeout=60_000)
        qtbot.wait(200)
        assert window.context.data.image_shape == (1, 9, 9) and not setup.session.loading
        assert setup.data_combo.currentData() == str(other)
        assert said[-1] == "The followed run's newer model is not shown: it trains on digits, and other is open"
