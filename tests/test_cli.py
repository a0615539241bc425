"""``python main.py train``: files written, resuming, and one-line errors (tracebacks only with --debug)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import main
from core.errors import DataError
from core.train.checkpoint import read_checkpoint
from core.train.metrics import read_metrics

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_train_then_resume_in_a_real_process(tmp_path):
    out = tmp_path / "run"
    done = cli("train", "--dataset", "digits", "--model", "vae", "--epochs", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert f"wrote {out / 'checkpoint.pt'} and {out / 'metrics.jsonl'}" in done.stdout
    assert "epoch 2: val loss" in done.stdout and "vae on digits: 100%" in done.stderr  # progress
    rows = read_metrics(out / "metrics.jsonl")
    for row in rows:
        assert {"step", "epoch", "split", "loss", "r2", "recon", "kl", "progress", "time"} <= set(row)
    assert [r["epoch"] for r in rows if r["split"] == "val"] == [1.0, 2.0]
    state = read_checkpoint(out / "checkpoint.pt")["train_state"]
    assert state["epoch"] == 2 and state["dataset"] == "digits" and state["config"]["epochs"] == 2

    done = cli("train", "--resume", str(out / "checkpoint.pt"), "--epochs", "3", "--out", str(out))
    assert done.returncode == 0, done.stderr
    payload = read_checkpoint(out / "checkpoint.pt")
    assert payload["train_state"]["epoch"] == 3 and payload["train_state"]["step"] == 3 * 26
    rows_after = read_metrics(out / "metrics.jsonl")
    assert rows_after[:len(rows)] == rows and [r["epoch"] for r in rows_after if r["split"] == "val"] == [1.0, 2.0, 3.0]
    assert payload["history"] == rows_after


def test_bad_dataset_path_is_one_line_on_stderr(tmp_path):
    done = cli("train", "--dataset", str(tmp_path / "nowhere.npz"), "--out", str(tmp_path / "run"))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("error: unknown data set") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def run_main(capsys, *args: str) -> tuple[int, list[str]]:
    code = main.main(list(args))
    return code, capsys.readouterr().err.splitlines()


def test_debug_lets_the_exception_through(tmp_path):
    with pytest.raises(DataError, match="unknown data set"):  # so Python prints its traceback
        main.main(["--debug", "train", "--dataset", str(tmp_path / "nowhere.npz"), "--out", str(tmp_path)])


def test_corrupt_or_finished_resume_files(tmp_path, capsys):
    (tmp_path / "broken.pt").write_bytes(b"\x00" * 100)
    code, err = run_main(capsys, "train", "--resume", str(tmp_path / "broken.pt"), "--out", str(tmp_path))
    assert code == 1 and len(err) == 1
    assert err[0].startswith(f"error: {tmp_path / 'broken.pt'}: not a readable Latent Explorer checkpoint")

    assert run_main(capsys, "train", "--epochs", "1", "--out", str(tmp_path / "run"))[0] == 0
    code, err = run_main(capsys, "train", "--resume", str(tmp_path / "run" / "checkpoint.pt"), "--out",
                         str(tmp_path / "run"))
    assert code == 1 and len(err) == 1 and "already trained for 1 epochs; pass --epochs" in err[0]


def test_bad_data_files_and_devices(tmp_path, capsys):
    np.savez(tmp_path / "flat.npz", images=np.zeros((10, 64), np.uint8))
    code, err = run_main(capsys, "train", "--dataset", str(tmp_path / "flat.npz"), "--out", str(tmp_path / "r"))
    assert code == 1 and len(err) == 1 and err[0].startswith("error: ") and "(10, 64)" in err[0]
    code, err = run_main(capsys, "train", "--device", "tpu9", "--out", str(tmp_path / "r"))
    assert code == 1 and err == ["error: unknown device 'tpu9'; use auto, cpu"]
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


@pytest.mark.parametrize("model, lr", [("vae", 2e-3), ("gan", 5e-4)])
def test_learning_rate_defaults_to_the_familys_own_unless_given(tmp_path, model, lr):
    from core.commands.train import build_run
    args = main.build_parser().parse_args(["train", "--model", model, "--out", str(tmp_path)])
    assert build_run(args).config.lr == lr
    args = main.build_parser().parse_args(["train", "--model", model, "--lr", "0.01", "--out", str(tmp_path)])
    assert build_run(args).config.lr == 0.01


@pytest.mark.parametrize("args, expected", [
    (["--batch-size", "0"], "error: batch size must be a whole number from 1 to 1,048,576, got 0"),
    (["--batch-size", "-5"], "error: batch size must be a whole number from 1 to 1,048,576, got -5"),
    (["--epochs", "0"], "error: epochs must be a whole number from 1 to 10,000,000, got 0"),
    (["--epochs", "-1"], "error: epochs must be a whole number from 1 to 10,000,000, got -1"),
    (["--seed", "-1"], "error: seed must be a whole number from 0 to 9,223,372,036,854,775,807, got -1"),
    (["--lr", "nan"], "error: lr must be a number from 1e-12 to 10, got nan"),
    (["--latent-dim", "-3"], "error: --latent-dim must be at least 1, got -3"),
    (["--latent-dim", "0"], "error: --latent-dim must be at least 1, got 0"),
    (["--hidden", "0"], "error: --hidden must be at least 1, got 0"),
    (["--beta", "-1"], "error: --beta must be at least 0, got -1"),
    (["--model", "dae", "--noise-std", "-1"], "error: --noise-std must be at least 0, got -1"),
    (["--set", "latent_dim=1e400"], "error: --set latent_dim must be a whole number, got inf"),
    (["--set", "image_shape=[3,64,64]"], "error: --set image_shape: not a setting you choose"),
    (["--set", "std=[0]"], "error: --set std: not a setting you choose"),
    (["--out", ""], "error: argument --out: give a folder (an empty path would write into the current folder)"),
    (["--image-size", "0"], "error: argument --image-size: must be a whole number from 2 to 1,024, got '0'"),
    (["--model", "audio-dae", "--speech", ".", "--segment", "inf"],
     "error: argument --segment: must be a number from 0.05 to 60, got 'inf'"),
])
def test_every_numeric_option_is_checked_before_any_work(tmp_path, capsys, args, expected):
    out = tmp_path / "run"
    argv = ["train", *(["--out", str(out)] if "--out" not in args else []), *args]
    try:
        code = main.main(argv)
    except SystemExit as exc:  # a usage error: argparse ends the program
        code = exc.code
    err = capsys.readouterr().err
    assert code in (1, 2) and err.startswith(expected) and err.count("\n") == 1, err
    assert not out.exists() and not Path("checkpoint.pt").exists()


@pytest.mark.parametrize("args, expected", [
    (["--n", "0"], "argument --n: must be a whole number from 1 to 100,000, got '0'"),
    (["--batch-size", "-1"], "argument --batch-size: must be a whole number from 1 to 65,536, got '-1'"),
    (["--temperature", "nan"], "argument --temperature: must be a number from 0 to 100, got 'nan'"),
    (["--steps", "0"], "argument --steps: must be a whole number from 1 to 100,000, got '0'"),
    (["--seed", "-1"], "argument --seed: must be a whole number from 0 to 9,223,372,036,854,775,807, got '-1'"),
])
def test_sample_options_are_checked(tmp_path, capsys, args, expected):
    with pytest.raises(SystemExit) as exit_:
        main.main(["sample", "--model", str(tmp_path / "c.pt"), "--out", str(tmp_path / "s.png"), *args])
    assert exit_.value.code == 2 and capsys.readouterr().err.startswith(f"error: {expected}")
