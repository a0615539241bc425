"""Work lost per kill: a real ``python main.py train`` run killed with SIGKILL at random moments, resumed after
each kill, until it has been killed N times.

For each kill, the work lost is the training time since the run's last checkpoint (or, when this session had
written none yet, since its training began: the moment it wrote its ``metrics.jsonl`` afresh), which the resumed
run has to do again. The process start (imports, data) is not counted: no checkpoint can save it.

    python bench/kill_resume.py [--kills 10] [--model vae] [--dataset digits] [--epochs 2000] [--min-s 1] [--max-s 8]
                                [--root CHECKOUT]

``--root`` runs another checkout's ``main.py`` (e.g. the code before a change), so the figures can be compared.
Goal: at most a few seconds of training lost per kill.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START_S = 600  # the most a process may take to begin training


def wait_for_training(process: subprocess.Popen, log: Path, launched: float) -> float:
    """When the session's training began: it wrote its metrics log afresh (mtime after the launch)."""
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the training process ended before training (exit {process.returncode})")
        try:
            st = log.stat()
            if st.st_mtime > launched and st.st_size > 0:
                return time.time()
        except FileNotFoundError:
            pass
        time.sleep(0.005)
    raise SystemExit("training did not begin")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=10)
    p.add_argument("--model", default="vae")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--epochs", type=int, default=2000)
    p.add_argument("--min-s", type=float, default=1.0, help="least training time before a kill")
    p.add_argument("--max-s", type=float, default=8.0, help="most training time before a kill")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--root", type=Path, default=ROOT, help="the checkout whose main.py runs (default: this one)")
    args = p.parse_args()
    rng = random.Random(args.seed)
    root = args.root.resolve()
    lost: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        checkpoint, log = out / "checkpoint.pt", out / "metrics.jsonl"
        fresh = ["--model", args.model, "--dataset", args.dataset, "--epochs", str(args.epochs)]
        for kill in range(args.kills):
            command = ["--resume", str(checkpoint)] if checkpoint.exists() else fresh
            launched = time.time()
            process = subprocess.Popen([sys.executable, "main.py", "train", "--out", str(out), *command], cwd=root,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       env={**os.environ, "PYTHONPATH": str(root)})
            began = wait_for_training(process, log, launched)
            time.sleep(rng.uniform(args.min_s, args.max_s))
            killed = time.time()
            process.kill()
            process.wait()
            saved = checkpoint.stat().st_mtime if checkpoint.exists() else 0.0
            lost.append(killed - max(saved, began))
            print(f"kill {kill + 1}: after {killed - began:5.1f} s of training, {lost[-1]:5.2f} s lost "
                  f"(last checkpoint {'of this session' if saved > began else 'before it began'})", flush=True)
    print(f"work lost per kill: mean {statistics.mean(lost):.2f} s, median {statistics.median(lost):.2f} s, "
          f"max {max(lost):.2f} s over {len(lost)} kills")
    print(json.dumps({"kills": len(lost), "lost_s_mean": round(statistics.mean(lost), 3),
                      "lost_s_median": round(statistics.median(lost), 3), "lost_s_max": round(max(lost), 3)}))


if __name__ == "__main__":
    main()
