"""Following a run another process writes: headless (core.follow) and in the window (File ▸ Follow a run
folder), against a real `python main.py train` subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from core.errors import DataError
from core.follow import RunFollower
from core.metrics import MetricsLog, read_metrics

REPO = Path(__file__).resolve().parents[1]


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


def test_the_window_follows_a_headless_run_as_it_trains(qtbot, window, tmp_path):
    run_dir = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "main.py", "train", "--dataset", "digits", "--model", "vae",
                                "--epochs", "4", "--batch-size", "128", "--latent-dim", "4", "--out", str(run_dir)],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        training = window.panels["training"]
        rows = []
        window.bridge.metrics.connect(rows.append)
        qtbot.waitUntil(lambda: (run_dir / "metrics.jsonl").exists(), timeout=60_000)
        window.follow_run(run_dir)
        assert training.state == "following" and training.stop_button.isEnabled()
        assert str(run_dir) in training.run_label.text()
        qtbot.waitUntil(lambda: window.context.checkpoint_path == run_dir / "checkpoint.pt", timeout=60_000)
        assert window.context.model.name == "vae"  # loaded while the run goes on
        qtbot.waitUntil(lambda: all(training.previews[k].has_image for k in ("original", "reconstruction", "samples")),
                        timeout=30_000)  # computed here from the loaded model
        assert process.wait(120) == 0, process.stderr.read()
        written = read_metrics(run_dir / "metrics.jsonl")
        qtbot.waitUntil(lambda: len(rows) == len(written), timeout=10_000)
        assert rows == written and {"train", "val"} <= {r["split"] for r in rows}
        assert "epoch 4.0 / 4" in training.progress.format()
        qtbot.mouseClick(training.stop_button, Qt.MouseButton.LeftButton)
        assert training.state == "stopped" and window.bridge.follower is None
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
    assert window.statusBar().currentMessage() == notices[0]
    log.close()
    resumed = MetricsLog(tmp_path / "metrics.jsonl", rows[:1])  # a run resumed into the folder
    resumed.write({"step": 2, "epoch": 1.0, "split": "train", "loss": 1.5})
    qtbot.waitUntil(lambda: len(rows) == 4, timeout=10_000)
    assert restarts == [str(tmp_path), str(tmp_path)] and rows[2:] == [rows[0], {**rows[1], "loss": 1.5}]
    assert window.bridge.state == "following" and window.panels["training"].state == "following"
    resumed.close()
