"""Run control without Qt (core.sessions.training): a run in this process (the launch choice: here) started,
paused, resumed and stopped; a folder followed to its end, its checkpoints told apart (the first since
following began); a run in a process of its own (the launch choice) started and stopped (it saves); one that
this app started before the window was reopened, found again through its folder's lock and stopped by its pid,
"stopping" (never "stopped") while it still trains; and image and audio runs in one shape."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from core.audio.trainer import AudioRun
from core.errors import LatentExplorerError
from core.image.trainer import Run
from core.runs.launch import RunProcesses
from core.sessions import Workspace
from core.sessions.command_line import train_argv
from core.sessions.setup import SetupSession
from core.sessions.training import LOG_DIR, TrainingSession
from core.train.folder import RunFolder
from core.train.metrics import MetricsLog
from core.train.run import TrainingRun

LONG_S = 180.0  # a process's start takes ~10 s on an idle machine, much more under load


def recorded(session: TrainingSession) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []
    session.listen(lambda kind, what: seen.append((kind, what)))
    return seen


def poll_until(session: TrainingSession, done, timeout: float = LONG_S) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"still {session.state!r}"
        session.poll()
        time.sleep(0.03)


def states(seen) -> list[str]:
    return [what for kind, what in seen if kind == "state"]


def tiny_setup(digits) -> SetupSession:
    """Setup's form for a tiny VAE on digits that trains long (until stopped)."""
    workspace = Workspace()
    workspace.set_data(digits, "digits")
    setup = SetupSession(workspace)
    setup.set_family("vae")
    setup.set_value("hidden", "16")
    setup.set_batch_size(128)
    setup.set_epochs(5000)
    return setup


def tiny_argv(folder: Path, epochs: int) -> list[str]:
    return ["train", "--dataset", "digits", "--model", "vae", "--hidden", "16", "--epochs", str(epochs),
            "--batch-size", "128", "--out", str(folder)]


def test_image_and_audio_runs_have_the_one_shape_the_session_trains(digits, tmp_path):
    for run in (Run("vae", {}, digits, "digits"), AudioRun("audio-dae", {}, tmp_path)):
        assert isinstance(run, TrainingRun), type(run).__name__
        assert run.dataset_source and run.describe() and run.unit in ("images", "clips")


def test_a_run_here_starts_pauses_resumes_and_stops_with_its_checkpoint(digits, tmp_path):
    session, setup = TrainingSession(), tiny_setup(digits)
    seen = recorded(session)
    work = session.launch(setup, lambda _model, _data: tmp_path / "run")  # the launch choice: here
    assert work is not None and not session.busy  # (the run is built by the Work)
    work.run_here()
    run = session.worker.run
    assert seen[0] == ("started", run) and run.out_dir == tmp_path / "run" and session.busy and session.active
    with pytest.raises(LatentExplorerError, match="still going"):
        session.launch(setup, lambda *_: tmp_path / "another")
    with pytest.raises(LatentExplorerError, match="still going"):
        session.start(run)
    poll_until(session, lambda: any(kind == "metrics" for kind, _ in seen))
    session.pause()
    poll_until(session, lambda: session.state == "paused")
    session.resume()
    poll_until(session, lambda: session.state == "running")
    session.stop()
    poll_until(session, lambda: not session.active)
    assert states(seen)[-1] == "stopped" and not session.busy
    assert session.last_checkpoint == str(tmp_path / "run" / "checkpoint.pt")
    assert ("checkpoint", session.last_checkpoint) in [(k, getattr(w, "path", None)) for k, w in seen]
    assert Path(session.last_checkpoint).is_file()


def write_checkpoint(folder: Path, content: bytes) -> None:
    (folder / "tmp.pt").write_bytes(content)
    os.replace(folder / "tmp.pt", folder / "checkpoint.pt")  # as the trainer writes it


def test_a_followed_folder_tells_its_rows_and_checkpoints_until_its_writer_lets_go(tmp_path):
    session = TrainingSession()
    seen = recorded(session)
    with RunFolder(tmp_path).claim(fresh=True):
        log = MetricsLog(tmp_path / "metrics.jsonl")
        session.follow(tmp_path)
        assert session.state == "following" and session.stop_lets_go  # (nobody this app started)
        log.write({"step": 1, "split": "train", "progress": 0.5})
        write_checkpoint(tmp_path, b"first")
        session.poll()
        write_checkpoint(tmp_path, b"second")
        session.poll()
        log.close()
    session.poll()
    assert seen[0] == ("following", str(tmp_path))
    assert [w for k, w in seen if k == "metrics"] == [{"step": 1, "split": "train", "progress": 0.5}]
    checkpoints = [w for k, w in seen if k == "checkpoint"]
    assert [(c.path, c.followed, c.first) for c in checkpoints] == [(str(tmp_path / "checkpoint.pt"), True, True),
                                                                   (str(tmp_path / "checkpoint.pt"), True, False)]
    assert states(seen) == ["following", "stopped"] and session.follower is None and not session.active


def test_a_run_in_its_own_process_is_started_followed_and_stopped_saving(digits, tmp_path):
    session, setup = TrainingSession(), tiny_setup(digits)
    seen = recorded(session)
    folder = tmp_path / "run"
    setup.set_launch(True, 1)
    assert session.launch(setup, lambda _model, _data: folder) is None  # the launch choice: its own process
    process = session.process
    try:
        assert process.argv == train_argv(setup, lambda *_: folder)[0]
        assert seen[:2] == [("launched", str(folder)), ("state", "starting")] and session.process_alive
        poll_until(session, lambda: session.state == "following")
        session.stop()
        assert session.state == "stopping"
        poll_until(session, lambda: not session.active)
        assert states(seen)[-1] == "stopped" and process.poll() is not None
        assert "SIGINT: stopped at step" in (folder / LOG_DIR / "rank-0.log").read_text()
        assert (folder / "checkpoint.pt").is_file()
    finally:
        process.stop(grace_s=5)


def test_a_run_this_app_started_before_it_was_reopened_is_stopped_by_its_pid(tmp_path):
    folder = tmp_path / "run"
    before = RunProcesses(tiny_argv(folder, epochs=5000), 1, log_dir=folder / LOG_DIR).start()  # the last window's
    try:
        deadline = time.monotonic() + LONG_S
        while RunFolder(folder).state().kind != "owned" or not (folder / "metrics.jsonl").is_file():
            assert time.monotonic() < deadline and before.poll() is None
            time.sleep(0.1)
        session = TrainingSession()  # the reopened window's
        seen = recorded(session)
        session.follow(folder)
        assert session.owner_pid == before.pids[0] and not session.stop_lets_go
        session.stop()
        session.stop()  # (a second click: no second SIGINT, which would end it unsaved)
        assert session.state == "stopping" and session.follower is not None  # not "stopped": it still trains
        poll_until(session, lambda: not session.active)
        assert states(seen) == ["following", "stopping", "stopped"]
        assert before.wait() != 0 and "SIGINT: stopped at step" in (folder / LOG_DIR / "rank-0.log").read_text()
        assert (folder / "checkpoint.pt").is_file()
    finally:
        before.stop(grace_s=5)
