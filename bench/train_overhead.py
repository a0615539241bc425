"""Engine overhead: training throughput of ``TrainingWorker`` vs bare PyTorch loops, side by side.

The engine run is what the app does: the trainer in its worker thread, metrics rows (with R²), previews,
per-epoch validation, checkpoints, ``metrics.jsonl`` written, and the event queue drained every 33 ms as the
GUI's bridge does. The bare loops train the same model class on the same data (as floats on the device) with
the same batch size and learning rate in a plain ``for`` loop over shuffled batches, with as many torch
threads:

- ``bare``: eager, torch's default Adam (the loop anyone writes first);
- ``best``: the fastest bare loop we know for the device, through ``core.train.fast_step``'s step runner: fused
  Adam, and on CUDA channels-last convolutions and the whole step captured as a CUDA graph; elsewhere the
  model's loss compiled by ``torch.compile``. Its compilation happens in the untimed warm-up.

The engine runs with its defaults (``--compile``: the engine compiles the loss too, as ``train --compile``).

After an untimed warm-up, repetitions rotate the order; medians are reported, by wall clock and per CPU
second (the latter is steadier on a machine that other jobs load).

    python bench/train_overhead.py [--data PATH] [--model vae|diffusion|…] [--batch-size 64] [--epochs 5]
                                   [--reps 5] [--device auto] [--compile] [--no-best]

Goal: engine >= 0.95 x the best bare loop.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.image.data import load_dataset  # noqa: E402
from core.image.trainer import Run  # noqa: E402
from core.runs.recipe import image_run  # noqa: E402
from core.runs.worker import TrainingWorker  # noqa: E402
from core.train.device import pick_device, training_threads  # noqa: E402
from core.train.fast_step import StepRunner, channels_last_works, has_convolutions, tune_optimizers  # noqa: E402
from core.train.loop import TrainConfig  # noqa: E402
from models import build_model  # noqa: E402

POLL_S = 0.033  # gui.bridge.POLL_MS


def timed(train) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of ``train()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    train()
    return time.perf_counter() - wall, time.process_time() - cpu


def engine(run: Run) -> None:
    """A whole worker run, start to 'done', its events drained like the GUI's bridge drains them."""
    worker = TrainingWorker(run).start()
    events: list[dict] = []
    while not events or events[-1]["type"] != "done":
        time.sleep(POLL_S)
        events += worker.drain()
    errors = [e for e in events if e["type"] == "error"]
    if errors:
        raise SystemExit(f"engine run failed: {errors[0]['message']}")


class Bare:
    """A plain loop over shuffled batches of the training images; ``best``: the fastest we know (see above)."""

    def __init__(self, run: Run, best: bool):
        cfg = run.config
        self.device, self.cfg, self.best = pick_device(cfg.device), cfg, best
        torch.manual_seed(cfg.seed)
        train_idx, _ = run.data.split(cfg.val_fraction, cfg.seed)
        self.x_all = run.data.float_images(torch.from_numpy(train_idx)).to(self.device)
        self.model = build_model(run.model_name, run.model_config).to(self.device).train()
        if not best:
            self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
            return
        optimizers = self.model.configure_optimizers(cfg.lr)
        cuda = self.device.type == "cuda"
        channels_last = cuda and has_convolutions(self.model) and channels_last_works(self.model, (self.x_all[:2],))
        if channels_last:
            self.model.to(memory_format=torch.channels_last)
        tune_optimizers(optimizers, self.device)
        self.runner = StepRunner(self.model, optimizers, self.device, channels_last=channels_last, compile=not cuda)

    def train(self, epochs: int) -> None:
        torch.set_num_threads(training_threads())
        for _ in range(epochs):
            for idx in torch.randperm(len(self.x_all), device=self.device).split(self.cfg.batch_size):
                if self.best:
                    self.runner((self.x_all[idx],))
                else:
                    self.opt.zero_grad(set_to_none=True)
                    self.model.loss(self.x_all[idx])["total"].backward()
                    self.opt.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mnist10k.npz"))
    p.add_argument("--model", default="vae", help="an image family: vae, diffusion, conv-vae, …")
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--compile", action="store_true", help="the engine compiles the loss (train --compile)")
    p.add_argument("--no-best", action="store_true", help="leave out the best bare loop (no compilation)")
    args = p.parse_args()
    data = load_dataset(args.data)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, device=args.device, compile=args.compile)
    train_idx, _ = data.split(config.val_fraction, config.seed)
    n = args.epochs * len(train_idx)
    print(f"{args.model} on {Path(args.data).name}: {len(train_idx)} training images {data.image_shape}, batch "
          f"{config.batch_size}, {args.epochs} epochs per run, device {pick_device(args.device)}, "
          f"{training_threads()} torch thread(s) each" + (", the engine compiling" if args.compile else ""))
    kinds = ("engine", "bare") if args.no_best else ("engine", "bare", "best")
    rates: dict[str, list[tuple[float, float]]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory() as tmp:
        def fresh(epochs: int, out: str | None = None) -> Run:
            cfg = TrainConfig(epochs=epochs, batch_size=args.batch_size, device=args.device, compile=args.compile)
            return image_run(args.model, {}, data, args.data, cfg, Path(tmp) / out if out else None)

        engine(fresh(1, "warm-up"))  # first-use costs (allocator, thread pools, compilation) aside
        loops = {k: Bare(fresh(args.epochs), best=k == "best") for k in kinds if k != "engine"}
        for loop in loops.values():
            loop.train(1)
        for rep in range(args.reps):
            for kind in kinds[rep % len(kinds):] + kinds[:rep % len(kinds)]:
                if kind == "engine":
                    run = fresh(args.epochs, f"run{rep}")
                    wall, cpu = timed(lambda: engine(run))
                else:
                    wall, cpu = timed(lambda: loops[kind].train(args.epochs))
                rates[kind].append((n / wall, n / cpu))
                print(f"rep {rep + 1}: {kind:6s} {n / wall:8.0f} samples/s, {n / cpu:8.0f} per CPU second", flush=True)
    med = {k: [statistics.median(r[i] for r in rates[k]) for i in (0, 1)] for k in kinds}
    for k in kinds:
        print(f"median: {k:6s} {med[k][0]:8.0f} samples/s, {med[k][1]:8.0f} per CPU second")
    result = {"model": args.model, "batch_size": args.batch_size, "device": str(pick_device(args.device)),
              "engine_compiles": args.compile,
              **{f"{k}_samples_per_s": round(med[k][0], 1) for k in kinds},
              "ratio": round(med["engine"][0] / med["bare"][0], 4),
              "cpu_ratio": round(med["engine"][1] / med["bare"][1], 4)}
    line = f"engine / bare {result['ratio']:.3f} (per CPU second {result['cpu_ratio']:.3f})"
    if "best" in kinds:
        result["best_ratio"] = round(med["engine"][0] / med["best"][0], 4)
        result["best_cpu_ratio"] = round(med["engine"][1] / med["best"][1], 4)
        line += f"; engine / best {result['best_ratio']:.3f} (per CPU second {result['best_cpu_ratio']:.3f})"
    print(line + " (goal: engine / best >= 0.95)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
