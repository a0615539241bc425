"""Distributed data-parallel training on CPUs (Gloo): shards, gradient averaging across real processes,
``train --nproc 2`` on digits (then ``sample`` from its checkpoint and ``--resume`` both ways between two
processes and one), and a rank that dies."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import main
from core.runs.launch import RunProcesses, free_port, rank_environment, without_option
from core.runs.listing import run_info
from core.train import distributed
from core.train.checkpoint import read_checkpoint
from core.train.distributed import Ranks
from core.train.metrics import read_metrics

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--dataset", "digits", "--model", "vae", "--hidden", "32", "--latent-dim", "4"]


def test_ranks_from_the_environment_and_shards():
    assert distributed.from_environment({}) == distributed.SINGLE
    assert distributed.from_environment({"WORLD_SIZE": "1", "RANK": "0"}) == distributed.SINGLE
    assert distributed.from_environment(rank_environment(1, 3, 1234)) == Ranks(1, 3, 1)
    order = torch.arange(10)
    shards = [distributed.shard(order, Ranks(r, 4)) for r in range(4)]
    assert [len(s) for s in shards] == [distributed.shard_length(10, Ranks(0, 4))] * 4 == [3] * 4
    assert sorted(torch.cat(shards).tolist()) == sorted([*range(10), 0, 1])  # padded with the epoch's head
    assert torch.equal(distributed.shard(order, distributed.SINGLE), order)


AVERAGING = """
import sys, torch
from core.train import distributed
from models import build_model
ranks = distributed.from_environment()
distributed.join(ranks, torch.device("cpu"))
torch.manual_seed(0)
model = build_model("ae", {"image_shape": [1, 8, 8], "mean": [0.5], "std": [0.3], "hidden": [16], "latent_dim": 2})
optimizers = model.configure_optimizers(1e-2)
x = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(1))
if ranks.distributed:
    averager = distributed.GradientAverager(model, ranks)
    x = x[ranks.rank * 4:(ranks.rank + 1) * 4]
for _ in range(3):
    model.train_step(x, optimizers)
torch.save(model.state_dict(), sys.argv[1])
distributed.leave()
"""


def test_two_ranks_on_half_batches_train_as_one_process_on_the_whole(tmp_path):
    """The gradients are averaged before each step returns: the same weights as one process, every rank."""
    script = tmp_path / "averaging.py"
    script.write_text(AVERAGING)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    port = free_port()
    ranks = [subprocess.Popen([sys.executable, str(script), str(tmp_path / f"rank{r}.pt")],
                              env={**env, **rank_environment(r, 2, port)}) for r in range(2)]
    single = subprocess.run([sys.executable, str(script), str(tmp_path / "single.pt")], env=env, timeout=300)
    assert [p.wait(300) for p in ranks] == [0, 0] and single.returncode == 0
    states = [torch.load(tmp_path / f"{n}.pt") for n in ("rank0", "rank1", "single")]
    for key in states[2]:
        assert torch.equal(states[0][key], states[1][key])
        torch.testing.assert_close(states[0][key], states[2][key], rtol=1e-4, atol=1e-5)


def run_main(*args: str) -> int:
    return main.main([*args])


def test_train_with_two_processes_then_sample_and_resume_both_ways(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_main("train", *TINY, "--epochs", "1", "--nproc", "2", "--out", str(out)) == 0
    rows = read_metrics(out / "metrics.jsonl")
    assert rows and all(r["world_size"] == 2 for r in rows)
    assert [r["epoch"] for r in rows if r["split"] == "val"] == [1.0]
    train = [r for r in rows if r["split"] == "train"]
    assert train[-1]["step"] == 13  # 1617 images, half each, 64 a step
    state = read_checkpoint(out / "checkpoint.pt")["train_state"]
    assert (state["epoch"], state["step"], state["world_size"]) == (1, 13, 2)
    assert sorted(p.name for p in out.iterdir()) == [".lock", "checkpoint.pt", "metrics.jsonl", "status.json"]  # no .tmp

    assert run_main("sample", "--model", str(out / "checkpoint.pt"), "--n", "16", "--out", str(tmp_path / "s.png")) == 0
    assert (tmp_path / "s.png").stat().st_size > 0

    # a distributed checkpoint resumed by one process, then that one's by two
    assert run_main("train", "--resume", str(out / "checkpoint.pt"), "--epochs", "2", "--out", str(out)) == 0
    assert run_main("train", "--resume", str(out / "checkpoint.pt"), "--epochs", "3", "--nproc", "2",
                    "--out", str(out)) == 0
    rows = read_metrics(out / "metrics.jsonl")
    val = [r for r in rows if r["split"] == "val"]
    assert [(r["epoch"], r["world_size"]) for r in val] == [(1.0, 2), (2.0, 1), (3.0, 2)]
    assert [r["step"] for r in val] == [13, 13 + 26, 13 + 26 + 13]
    payload = read_checkpoint(out / "checkpoint.pt")
    assert payload["train_state"]["epoch"] == 3 and payload["history"] == rows
    assert val[-1]["loss"] < val[0]["loss"]
    assert "wrote" in capsys.readouterr().out


def test_the_train_command_leaves_its_process_group_before_it_returns(tmp_path):
    # Left to the interpreter's exit, a rank's Gloo threads were destroyed still running: one rank of a finished
    # run aborted ("terminate called without an active exception") and the run was reported failed.
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'group'}", rank=0, world_size=1)
    try:
        assert run_main("train", *TINY, "--epochs", "1", "--out", str(tmp_path / "run")) == 0
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_a_rank_that_lost_contact_ends_without_the_teardown_that_aborted_it():
    # With its peer killed, a rank said "lost contact" and then, in 1 exit in 8, Gloo's connections aborted it in
    # the interpreter's shutdown ("terminate called without an active exception", SIGABRT): the launcher then
    # blamed it, not the rank that was killed. Such a rank now ends without that shutdown, with its exit code.
    script = textwrap.dedent("""
        import atexit, sys
        from core.threads import exit_code_after_threads
        from core.train.distributed import all_sum, Ranks
        import torch
        atexit.register(lambda: print("interpreter shutdown"))
        torch.distributed.all_reduce = lambda t: (_ for _ in ()).throw(RuntimeError("Connection reset by peer"))
        try:
            all_sum(torch.ones(1), Ranks(0, 2, 0))
        except Exception as exc:
            print(type(exc).__name__, exc)
        sys.exit(exit_code_after_threads(1))
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert result.stdout.strip() == ("TrainingError lost contact with another process of this run: it ended or was "
                                     "killed (Connection reset by peer)")


def test_a_dead_rank_ends_the_run_and_the_last_good_checkpoint_stays(tmp_path):
    out = tmp_path / "run"
    ranks = RunProcesses(["train", *TINY, "--epochs", "1000", "--out", str(out)], nproc=2,
                         log_dir=tmp_path / "logs").start()
    deadline = time.monotonic() + 240
    while not (out / "checkpoint.pt").exists() and time.monotonic() < deadline and ranks.poll() is None:
        time.sleep(0.2)
    assert (out / "checkpoint.pt").exists(), (tmp_path / "logs" / "rank-0.log").read_text()
    os.kill(ranks.pids[1], signal.SIGKILL)
    code = ranks.wait()
    assert code != 0 and ranks.failure.startswith("rank 1 of 2 was killed by SIGKILL")
    assert ranks.failure.endswith("the other ranks were stopped")
    assert all(p.poll() is not None for p in ranks.procs)
    payload = read_checkpoint(out / "checkpoint.pt")  # whole: written atomically
    assert payload["train_state"]["world_size"] == 2 and payload["train_state"]["epoch"] >= 1
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows and rows[0]["world_size"] == 2
    status = run_info(out)
    assert status.state in ("failed", "died") and status.world_size == 2  # died: stopped before it could say
    if status.state == "failed":
        assert status.message.startswith("lost contact with another process of this run")


def test_launch_options():
    assert without_option(["train", "--nproc", "2", "--out", "x", "--nproc=3"], "--nproc") == ["train", "--out", "x"]
    with pytest.raises(ValueError):
        RunProcesses(["train"], nproc=0)
