"""Engine overhead: training throughput of ``TrainingWorker`` vs a bare PyTorch loop, side by side.

The engine run is what the app does: the trainer in its worker thread, metrics rows (with R²), previews,
per-epoch validation, checkpoints, ``metrics.jsonl`` written, and the event queue drained every 33 ms as the
GUI's bridge does. The bare loop trains the same model class on the same data (as floats on the device) with
the same batch size and optimiser in a plain ``for`` loop over shuffled batches, with as many torch threads.
After an untimed warm-up, repetitions alternate; medians are reported, by wall clock and per CPU second
(the latter is steadier on a machine that other jobs load).

    python bench/train_overhead.py [--data PATH] [--model vae] [--epochs 5] [--reps 5] [--device auto]

Goal: ratio (engine / bare samples per second) >= 0.95.
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

from core.data import load_dataset  # noqa: E402
from core.device import pick_device, training_threads  # noqa: E402
from core.loop import TrainConfig  # noqa: E402
from core.recipe import image_run  # noqa: E402
from core.trainer import Run  # noqa: E402
from core.worker import TrainingWorker  # noqa: E402
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


def bare(run: Run) -> None:
    """A plain loop: same model class, data, batch size and optimiser."""
    cfg = run.config
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(training_threads())
    train_idx, _ = run.data.split(cfg.val_fraction, cfg.seed)
    x_all = run.data.float_images(torch.from_numpy(train_idx)).to(device)
    model = build_model(run.model_name, run.model_config).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    for _ in range(cfg.epochs):
        for idx in torch.randperm(len(x_all), device=device).split(cfg.batch_size):
            opt.zero_grad(set_to_none=True)
            model.loss(x_all[idx])["total"].backward()
            opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mnist10k.npz"))
    p.add_argument("--model", default="vae")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    data = load_dataset(args.data)
    config = TrainConfig(epochs=args.epochs, device=args.device)
    train_idx, _ = data.split(config.val_fraction, config.seed)
    n = args.epochs * len(train_idx)
    print(f"{args.model} on {Path(args.data).name}: {len(train_idx)} training images {data.image_shape}, batch "
          f"{config.batch_size}, {args.epochs} epochs per run, device {pick_device(args.device)}, "
          f"{training_threads()} torch thread(s) each")
    rates: dict[str, list[tuple[float, float]]] = {"engine": [], "bare": []}
    with tempfile.TemporaryDirectory() as tmp:
        warm_up = TrainConfig(epochs=1, device=args.device)  # first-use costs (allocator, thread pools) aside
        engine(image_run(args.model, {}, data, args.data, warm_up, Path(tmp) / "warm-up"))
        bare(image_run(args.model, {}, data, args.data, warm_up))
        for rep in range(args.reps):
            for kind in (("engine", "bare") if rep % 2 == 0 else ("bare", "engine")):
                run = image_run(args.model, {}, data, args.data, config, Path(tmp) / f"run{rep}")
                wall, cpu = timed(lambda: (engine if kind == "engine" else bare)(run))
                rates[kind].append((n / wall, n / cpu))
                print(f"rep {rep + 1}: {kind:6s} {n / wall:8.0f} samples/s, {n / cpu:8.0f} per CPU second", flush=True)
    (e, e_cpu), (b, b_cpu) = ([statistics.median(r[i] for r in rates[k]) for i in (0, 1)] for k in ("engine", "bare"))
    print(f"median: engine {e:.0f} samples/s, bare {b:.0f} samples/s, ratio {e / b:.3f} (goal >= 0.95); "
          f"per CPU second: ratio {e_cpu / b_cpu:.3f}")
    print(json.dumps({"ratio": round(e / b, 4), "engine_samples_per_s": round(e, 1), "bare_samples_per_s": round(b, 1),
                      "cpu_ratio": round(e_cpu / b_cpu, 4)}))


if __name__ == "__main__":
    main()
