"""Runs that cannot be lost or mixed, done to real ``python main.py`` processes: kill -9, SIGTERM and Ctrl-C at
random moments and resume (the log ends up row for row that of an uninterrupted run, followed throughout),
two trainers into one folder, a full disk, and hostile files and sizes (each refused in one line before it
costs memory)."""
from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

import main
from core.errors import DataError
from core.runs.follow import RunFollower
from core.train.checkpoint import FORMAT, MAX_PARAMETERS, model_from, read_checkpoint
from core.train.metrics import read_metrics

REPO = Path(__file__).resolve().parents[1]
TIMING = {"time", "samples_per_s", "eta_s"}  # what differs between two runs of the same training
SMALL = ["--dataset", "digits", "--model", "vae", "--latent-dim", "4", "--hidden", "32", "--batch-size", "64"]
START_S = 300  # a process start (imports) can take long on a loaded machine


def without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def start(out: Path, *args: str) -> subprocess.Popen:
    """``python main.py train --out OUT ARGS`` in the background, in a process group of its own as a terminal's
    foreground job is; its stderr goes to OUT.stderr (a pipe could fill up with progress bars and stall it)."""
    log = open(out.with_name(out.name + ".stderr"), "w")
    process = subprocess.Popen([sys.executable, "main.py", "train", "--out", str(out), *args], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=log, text=True, process_group=0)
    log.close()
    return process


def said(out: Path) -> list[str]:
    """The lines the process wrote on stderr besides its progress (bar, set-up and validation lines)."""
    text = out.with_name(out.name + ".stderr").read_text().replace("\r", "\n")
    return [line for line in text.splitlines()
            if line.strip() and not re.match(r"\S+ on \S+: |steps: |epoch \d+: val ", line)]


def last_line(out: Path) -> str:
    lines = said(out)
    return lines[-1] if lines else ""


def wait_for_training(out: Path, process: subprocess.Popen, previous_log: int | None) -> int | None:
    """Until the process writes a new metrics log (its training has begun); the log's inode, or None if the
    process ended first."""
    log = out / "metrics.jsonl"
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            st = log.stat()
            if st.st_ino != previous_log and st.st_size > 0:
                return st.st_ino
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    assert process.poll() is not None, "training did not start"
    return None


def finished(out: Path) -> bool:
    """Whether the run in ``out`` trained to its last step and saved it."""
    rows = read_metrics(out / "metrics.jsonl")
    return bool(rows) and rows[-1]["progress"] >= 1 and (out / "checkpoint.pt").exists()


#: The signals sent in turn to the training process, until ``INTERRUPTIONS`` of them interrupted it.
SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)
INTERRUPTIONS, MAX_SIGNALS = 4, 12
MIN_INTERRUPTIONS = 3  # fewer fails the test: the run was hardly interrupted
SEED_ENV = "KILL_RESUME_SEED"  # replays the signals' moments of a failed run


def test_killed_terminated_and_interrupted_runs_resume_to_the_rows_of_an_uninterrupted_one(tmp_path):
    seed = int(os.environ.get(SEED_ENV) or random.randrange(1 << 30))
    print(f"kill/resume seed {seed} ({SEED_ENV}={seed} replays it)")
    rng = random.Random(seed)
    args = [*SMALL, "--epochs", "100"]  # seconds of training: the signals land while it trains
    reference = start(tmp_path / "reference", *args)
    out = tmp_path / "run"
    follower, followed, inode, interruptions = None, [], None, 0
    for k in range(MAX_SIGNALS):
        if interruptions >= INTERRUPTIONS:
            break
        sig = SIGNALS[k % len(SIGNALS)]
        resuming = (out / "checkpoint.pt").exists()
        process = start(out, *(["--resume", str(out / "checkpoint.pt")] if resuming else args))
        inode = wait_for_training(out, process, inode)
        if inode is None:
            assert process.returncode == 0, last_line(out)  # it finished before the signal
            break
        follower = follower or RunFollower(out)
        time.sleep(rng.uniform(0.0, 1.0))
        process.send_signal(sig)
        code = process.wait(START_S)
        if code == 0 or finished(out):
            break  # it had finished (a signal while the process exits ends it as the system does)
        assert code == (-9 if sig == signal.SIGKILL else 128 + sig), (seed, last_line(out))
        interruptions += 1
        if sig != signal.SIGKILL:
            assert last_line(out).startswith(f"{sig.name}: stopped at step ")
            assert f"saved {out / 'checkpoint.pt'}; continue with: python main.py train --resume" in last_line(out)
        rows, _, restarted = follower.poll()
        followed = (rows if restarted else followed + rows)
    while not (out / "checkpoint.pt").exists() or read_metrics(out / "metrics.jsonl")[-1]["progress"] < 1:
        process = start(out, *(["--resume", str(out / "checkpoint.pt")] if (out / "checkpoint.pt").exists() else args))
        assert process.wait(START_S) == 0, last_line(out)
    assert reference.wait(START_S) == 0, last_line(tmp_path / "reference")
    assert interruptions >= MIN_INTERRUPTIONS, f"only {interruptions} interruption(s) landed while it trained (seed {seed})"

    rows = read_metrics(out / "metrics.jsonl")
    assert without_timing(rows) == without_timing(read_metrics(tmp_path / "reference" / "metrics.jsonl")), seed
    assert not list(out.glob("*.tmp")), seed  # the next open cleans what a kill -9 mid-save leaves
    new, _, restarted = follower.poll()  # the follower saw every restart and never failed
    assert (new if restarted else followed + new) == rows and follower.skipped == 0, seed
    assert follower._reader.restarts >= 1, seed


def test_two_trainers_into_one_folder_the_second_is_refused(tmp_path):
    out = tmp_path / "run"
    first = start(out, *SMALL, "--epochs", "300")
    try:
        assert wait_for_training(out, first, None) is not None, last_line(out)
        second = subprocess.run([sys.executable, "main.py", "train", "--out", str(out), *SMALL, "--epochs", "1"],
                                cwd=REPO, capture_output=True, text=True, timeout=START_S)
        assert second.returncode == 1 and second.stdout == "" and second.stderr.count("\n") == 1
        assert second.stderr.startswith(f"error: {out}: another training run is writing this folder (process "
                                        f"{first.pid} on {socket.gethostname()}, since ")
        first.send_signal(signal.SIGTERM)
        assert first.wait(START_S) == 143
    finally:
        first.kill()
        first.wait()
    rows = read_metrics(out / "metrics.jsonl")
    steps = [(r["split"], r["step"]) for r in rows]
    assert len(steps) == len(set(steps)) and steps == sorted(steps, key=lambda s: s[1])
    assert len(out.joinpath("metrics.jsonl").read_text().splitlines()) == len(rows)  # every line a row


def test_a_fresh_run_into_a_kept_run_is_refused_and_overwrite_replaces_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert main.main(["train", "--out", str(out), *SMALL, "--epochs", "1"]) == 0
    before = (out / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    assert main.main(["train", "--out", str(out), "--model", "ae", "--epochs", "1"]) == 1
    assert capsys.readouterr().err == (f"error: {out}: this folder holds a run already; continue it with --resume "
                                       f"{out / 'checkpoint.pt'}, replace it with --overwrite, or choose another "
                                       "folder\n")
    assert (out / "checkpoint.pt").read_bytes() == before
    assert main.main(["train", "--out", str(out), "--model", "ae", "--latent-dim", "4", "--epochs", "1",
                      "--overwrite"]) == 0
    assert (out / "checkpoint.pt").read_bytes() != before
    assert {r["epoch"] for r in read_metrics(out / "metrics.jsonl") if r["split"] == "val"} == {1.0}


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_ctrl_c_and_sigterm_stop_every_rank_of_a_distributed_run_at_one_step_and_rank_0_saves(tmp_path):
    """``--nproc 2``: a terminal's Ctrl-C (SIGINT to the foreground process group), then SIGTERM to the launching
    process alone: the ranks stop at the same logged step (else rank 0 would wait for the other in vain), rank
    0 saves it, and the command ends with the signal's code and one line saying where."""
    out, inode = tmp_path / "run", None
    for sig, whom in ((signal.SIGINT, os.killpg), (signal.SIGTERM, os.kill)):
        resume = ["--resume", str(out / "checkpoint.pt")] if inode else [*SMALL, "--epochs", "300"]
        process = start(out, *resume, "--nproc", "2")
        inode = wait_for_training(out, process, inode)
        assert inode is not None, last_line(out)
        ranks = children(process.pid)
        assert len(ranks) == 2
        time.sleep(random.uniform(0.0, 1.0))
        whom(process.pid, sig)
        assert process.wait(START_S) == 128 + sig, said(out)
        lines = said(out)
        assert len(lines) == 1 and lines[0].startswith(f"{sig.name}: stopped at step "), lines
        step = int(re.match(r"\w+: stopped at step ([\d,]+) ", lines[0])[1].replace(",", ""))
        assert lines[0].endswith(f"; saved {out / 'checkpoint.pt'}; continue with: python main.py train --resume "
                                 f"{out / 'checkpoint.pt'} --out {out}")
        assert not any(running(pid) for pid in ranks)
        state = read_checkpoint(out / "checkpoint.pt")["train_state"]
        assert (state["step"], state["world_size"]) == (step, 2)
        rows = read_metrics(out / "metrics.jsonl")
        assert rows[-1]["step"] == step and all(r["world_size"] == 2 for r in rows)
    assert not list(out.glob("*.tmp"))


@pytest.mark.parametrize("sig, words", [(signal.SIGTERM, "terminated"), (signal.SIGINT, "interrupted")])
def test_a_signal_while_a_command_starts_is_one_line_and_leaves_nothing(tmp_path, sig, words):
    """Before training begins (here: while the data set is read, from a pipe nobody writes) there is nothing to
    save: the command ends with the signal's code and one word."""
    fifo = tmp_path / "data.npz"
    os.mkfifo(fifo)
    out = tmp_path / "run"
    process = start(out, "--dataset", str(fifo))
    deadline = time.monotonic() + START_S
    while Path(f"/proc/{process.pid}/wchan").read_text() != "wait_for_partner":  # blocked opening the pipe
        assert process.poll() is None and time.monotonic() < deadline, said(out)
        time.sleep(0.05)
    process.send_signal(sig)
    assert process.wait(START_S) == 128 + sig
    assert said(out) == [words] and not out.exists()


@pytest.mark.parametrize("args, expected", [
    (["--epochs", "0"], "error: epochs must be a whole number from 1 to 10,000,000, got 0"),
    (["--out", ""], "error: argument --out: give a folder (an empty path would write into the current folder)"),
    (["--set", "latent_dim=1e400"], "error: --set latent_dim must be a whole number, got inf"),
    (["--set", "image_shape=[3,64,64]"], "error: --set image_shape: not a setting you choose"),
])
def test_hostile_options_are_one_line_from_a_real_process(tmp_path, args, expected):
    out = tmp_path / "run"
    argv = ["train", *(["--out", str(out)] if "--out" not in args else []), *args]
    done = subprocess.run([sys.executable, str(REPO / "main.py"), *argv], cwd=tmp_path, capture_output=True,
                          text=True, timeout=START_S, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode in (1, 2) and done.stdout == ""
    assert done.stderr.startswith(expected) and done.stderr.count("\n") == 1, done.stderr
    assert list(tmp_path.iterdir()) == []  # (not even in the current folder)


# --- a full disk ----------------------------------------------------------------------------------
FILE_LIMIT = 256 << 10  # bytes a file may grow to where no small disk can be mounted (a checkpoint is larger)
AUDIO_WRITE = ("import sys, numpy as np\n"
               "from core.audio.io import write_audio\n"
               "from core.errors import DataError\n"
               "try:\n"
               "    write_audio(sys.argv[1], np.zeros((2, 16000 * 20), dtype=np.float32), 16000)\n"
               "except DataError as exc:\n"
               "    sys.exit(str(exc))\n")


class FullDisk:
    """A folder where writing soon fails: a 512 KiB tmpfs where this user may mount one (``no space left on
    device``), else a limit on the size of any one file of the child processes that write there
    (``RLIMIT_FSIZE``, with SIGXFSZ ignored so that the write fails with ``file too large``)."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir()
        self.mounted = os.geteuid() == 0 and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(folder)], capture_output=True).returncode == 0
        self.cause = "no space left on device" if self.mounted else "file too large"

    def _limited(self) -> None:
        import resource
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """``python ARGS`` from the repository, writing to the full disk."""
        return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=START_S,
                              env={**os.environ, "PYTHONPATH": str(REPO)},
                              preexec_fn=None if self.mounted else self._limited)

    def close(self) -> None:
        if self.mounted:
            subprocess.run(["umount", str(self.folder)], check=True)


@pytest.fixture
def full_disk(tmp_path):
    disk = FullDisk(tmp_path / "disk")
    try:
        yield disk
    finally:
        disk.close()


def test_a_full_disk_is_one_line_and_leaves_nothing_partial(full_disk):
    out = full_disk.folder / "run"
    done = full_disk.run("main.py", "train", "--out", str(out), "--dataset", "digits", "--model", "vae", "--epochs", "3")
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stderr.splitlines()[-1] == (f"error: {out / 'checkpoint.pt'}: could not write the checkpoint "
                                            f"({full_disk.cause}); the previous one is kept"), done.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == [".lock", "metrics.jsonl", "status.json"]  # no partial checkpoint
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert lines and all(isinstance(json.loads(line), dict) for line in lines)

    done = full_disk.run("-c", AUDIO_WRITE, str(full_disk.folder / "clean.wav"))
    assert done.returncode == 1 and re.search(r"clean.wav: could not write audio \(.*\)", done.stderr), done.stderr
    assert not [p for p in full_disk.folder.iterdir() if p.suffix in (".wav", ".tmp")]


# --- hostile files and sizes --------------------------------------------------------------------
def crafted_checkpoint(path: Path, config: dict, name: str = "vae") -> Path:
    """A tiny file that passes safe loading but declares a model of its own choosing, with no weights."""
    torch.save({"format": FORMAT, "model": {"name": name, "config": config}, "state_dict": {}, "optimizers": {},
                "train_state": {}, "history": []}, path)
    return path


def test_checkpoints_that_declare_huge_models_are_refused_before_any_memory(tmp_path, capsys):
    image = {"image_shape": [3, 64, 64], "mean": [0.5] * 3, "std": [0.2] * 3}
    cases = {
        "too_wide.pt": ({**image, "hidden": [30000, 30000]}, "cannot be built from its settings (vae: hidden"),
        "too_big.pt": ({**image, "latent_dim": 4096, "hidden": [16384, 16384]},
                       "refused: its settings make a vae bigger than the 0 weights it holds (stopped before "
                       "allocating it)"),
        "no_weights.pt": ({**image, "hidden": [32]}, "the weights do not fit model 'vae'"),
    }
    for name, (config, expected) in cases.items():
        path = crafted_checkpoint(tmp_path / name, config)
        assert path.stat().st_size < 4096
        for command in (["sample", "--model", str(path), "--out", str(tmp_path / "s.png")],
                        ["train", "--resume", str(path), "--out", str(tmp_path / "run")]):
            assert main.main(command) == 1
            err = capsys.readouterr().err
            assert err.startswith(f"error: {path}: ") and expected in err and err.count("\n") == 1, err
    many = {"w": torch.zeros(1).expand(MAX_PARAMETERS + 1)}  # weights over the limit (as numbers, no memory)
    with pytest.raises(Exception, match=f"refused: it holds {MAX_PARAMETERS + 1:,} weights"):
        model_from(tmp_path / "many.pt", {"model": {"name": "vae", "config": image}, "state_dict": many})
    bomb = tmp_path / "bomb.pt"  # a zip whose one entry inflates to 64 MB
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", bytes(64 << 20))
    assert bomb.stat().st_size < 1 << 20
    assert main.main(["sample", "--model", str(bomb), "--out", str(tmp_path / "s.png")]) == 1
    assert "refused: its entries claim 67,108,864 bytes" in capsys.readouterr().err


def wav_header(path: Path, rate: int, channels: int, frames: int) -> Path:
    """A 16-bit PCM WAV file whose header says ``rate`` and ``channels`` (the samples are silence)."""
    data = bytes(2 * channels * frames)
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
    path.write_bytes(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<I", 16) + fmt
                     + b"data" + struct.pack("<I", len(data)) + data)
    return path


def test_audio_with_hostile_headers_is_refused_before_it_is_read(tmp_path, capsys):
    from core.audio.io import read_audio
    model = tmp_path / "denoiser.pt"
    from core.train.checkpoint import save_checkpoint
    from models import build_model, family
    save_checkpoint(model, build_model("audio-dae", family("audio-dae").tiny))
    cases = {wav_header(tmp_path / "one_hz.wav", 1, 1, 20_000): "its sample rate of 1 Hz is outside 4,000 to "
                                                                 "384,000 Hz",
             wav_header(tmp_path / "many.wav", 16000, 64, 100): "it has 64 channels (at most 8)"}
    for path, expected in cases.items():
        with pytest.raises(DataError, match=re.escape(expected)):
            read_audio(path)
        assert main.main(["denoise", str(path), str(tmp_path / "out.wav"), "--model", str(model)]) == 1
        assert capsys.readouterr().err == f"error: {path}: {expected}\n"
        assert not list(tmp_path.glob("out.wav*"))


def png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that declares ``width`` x ``height`` grey pixels and holds a few bytes of them."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(width + 1)))
                     + chunk(b"IEND", b""))
    return path


def test_oversized_images_are_refused_per_file_everywhere(tmp_path, capsys):
    from core.image.data import MAX_IMAGE_PIXELS, load_image_folder
    from core.image.data import read_image_file  # what Morph's "Image file…" calls
    folder = tmp_path / "images"
    folder.mkdir()
    bomb = png_header(folder / "bomb.png", 50_000, 50_000)
    wide = png_header(folder / "wide.png", 9_000, 8_000)  # 72 MP: over the cap, under Pillow's own
    from PIL import Image
    for i in range(3):
        Image.fromarray(np.full((8, 8), 40 * i, dtype=np.uint8)).save(folder / f"ok{i}.png")
    for path in (bomb, wide):  # (Pillow refuses the first itself, and says so)
        with pytest.raises(DataError, match=f"{path}: refused: .*over the limit of {MAX_IMAGE_PIXELS:,}"):
            read_image_file(path, (1, 8, 8))
    data = load_image_folder(folder)
    assert len(data) == 3 and sorted(Path(p).name for p in data.skipped) == ["bomb.png", "wide.png"]
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 1), np.uint8))
    header["shape"] = (100_000, 256, 256, 3)  # 18 GiB declared, nothing stored
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as z, z.open("images.npy", "w") as f:
        np.lib.format.write_array_header_1_0(f, header)
    assert main.main(["train", "--dataset", str(tmp_path / "huge.npz"), "--out", str(tmp_path / "run")]) == 1
    assert "huge.npz: refused: its arrays would take 18.3 GiB (the limit is 4 GiB)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main.main(["train", "--dataset", str(folder), "--image-size", "100000", "--out", str(tmp_path / "run")])
    assert "argument --image-size: must be a whole number from 2 to 1,024, got '100000'" in capsys.readouterr().err


def start_long_run(window, qtbot, folder: Path, rows: int) -> None:
    """A long VAE run on the window's digits, in the window, until ``rows`` metrics rows have come."""
    from core.train.loop import TrainConfig
    from core.runs.recipe import image_run
    run = image_run("vae", {"latent_dim": 4, "hidden": [32]}, window.context.data, "digits",
                    TrainConfig(epochs=2000, batch_size=128), folder)
    seen = []
    window.bridge.metrics.connect(seen.append)
    window.bridge.start(run)
    qtbot.waitUntil(lambda: len(seen) >= rows, timeout=60_000)


def test_closing_the_window_saves_the_run_at_its_step_and_says_where(window, qtbot, tmp_path, capsys):
    start_long_run(window, qtbot, tmp_path / "run", rows=3)
    window.close()  # as the user closes it: the run stops and saves before the window goes
    assert not window.bridge.busy
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    assert f"training stopped; saved {checkpoint}" in capsys.readouterr().err
    assert read_checkpoint(checkpoint)["train_state"]["step"] == window.bridge.worker.trainer.step


def test_sigterm_and_ctrl_c_close_the_app_window_as_its_close_button_does(window, qtbot, tmp_path, capsys):
    from gui.app import close_on_signals
    before = {kind: signal.getsignal(kind) for kind in (signal.SIGINT, signal.SIGTERM)}
    try:
        close_on_signals(window)
        start_long_run(window, qtbot, tmp_path / "run", rows=2)
        os.kill(os.getpid(), signal.SIGTERM)  # the handler only schedules the close: the event loop runs it
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=60_000)
    finally:
        for kind, handler in before.items():
            signal.signal(kind, handler)
    assert not window.bridge.busy
    assert f"training stopped; saved {tmp_path / 'run' / 'checkpoint.pt'}" in capsys.readouterr().err


def test_stopped_in_a_long_step_as_the_window_closes_the_run_says_it_saves_when_the_step_is_done(window, qtbot,
        tmp_path, capsys, monkeypatch):
    from core.train.loop import TrainConfig
    from core.runs.recipe import image_run
    from core.image.trainer import Trainer
    batches = Trainer.batch
    run = image_run("vae", {"latent_dim": 4, "hidden": [32]}, window.context.data, "digits",
                    TrainConfig(epochs=2000, batch_size=128), tmp_path / "run")
    window.bridge.start(run)
    qtbot.waitUntil(lambda: window.bridge.state == "running", timeout=60_000)
    monkeypatch.setattr(Trainer, "batch", lambda self, *a: (time.sleep(3.0), batches(self, *a))[1])  # steps now slow
    time.sleep(0.5)  # (into a slow step)
    window.bridge.stop(wait_s=0.1)
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    assert capsys.readouterr().err == f"training is stopping; it saves {checkpoint} when its current step is done\n"
    qtbot.waitUntil(lambda: not window.bridge.busy, timeout=60_000)
    assert read_checkpoint(checkpoint)["train_state"]["step"] == window.bridge.worker.trainer.step
