"""Engine overhead: training throughput of ``TrainingWorker`` vs a bare PyTorch loop, side by side.

The engine run is what the app does: the trainer in its worker thread, metrics rows, previews, per-epoch
validation and checkpoints, ``metrics.jsonl`` written, and the event queue drained every 33 ms as the GUI's
bridge does. The bare loop trains the same model class on the same data with the same batch size and
optimiser in a plain ``for`` loop over shuffled batches. Repetitions alternate; medians are reported.

    python bench/train_overhead.py [--data PATH] [--model vae] [--epochs 2] [--reps 3]

Goal: ratio (engine / bare samples per second) >= 0.95. Timings on a shared machine are rough.
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
from core.device import training_threads  # noqa: E402
from core.trainer import Run, TrainConfig, model_config_for  # noqa: E402
from core.worker import TrainingWorker  # noqa: E402
from models import build_model  # noqa: E402

POLL_S = 0.033  # gui.bridge.POLL_MS


def engine(run: Run) -> float:
    """Samples per second of a whole worker run, start to 'done', events drained like the GUI bridge."""
    worker = TrainingWorker(run)
    t0 = time.perf_counter()
    worker.start()
    events = []
    while not any(e["type"] == "done" for e in events[-3:]):
        time.sleep(POLL_S)
        events += worker.drain()
    elapsed = time.perf_counter() - t0
    errors = [e for e in events if e["type"] == "error"]
    if errors:
        raise SystemExit(f"engine run failed: {errors[0]['message']}")
    return run.config.epochs * len(worker.trainer.train_idx) / elapsed


def bare(run: Run) -> float:
    """Samples per second of a plain loop: same model class, data, batch size and optimiser."""
    cfg = run.config
    torch.manual_seed(cfg.seed)
    train_idx, _ = run.data.split(cfg.val_fraction, cfg.seed)
    x_all = run.data.float_images(torch.from_numpy(train_idx))
    torch.set_num_threads(training_threads())
    model = build_model(run.model_name, run.model_config).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    t0 = time.perf_counter()
    for _ in range(cfg.epochs):
        for idx in torch.randperm(len(x_all)).split(cfg.batch_size):
            opt.zero_grad(set_to_none=True)
            model.loss(x_all[idx])["total"].backward()
            opt.step()
    return cfg.epochs * len(x_all) / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mnist10k.npz"))
    p.add_argument("--model", default="vae")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    data = load_dataset(args.data)
    config = TrainConfig(epochs=args.epochs, device="cpu")
    train_idx, _ = data.split(config.val_fraction, config.seed)
    model_config = model_config_for(args.model, data, train_idx)
    print(f"{args.model} on {Path(args.data).name}: {len(train_idx)} training images {data.image_shape}, "
          f"batch {config.batch_size}, {args.epochs} epochs per run, torch threads {torch.get_num_threads()}")
    samples = {"engine": [], "bare": []}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            order = ("engine", "bare") if rep % 2 == 0 else ("bare", "engine")
            for kind in order:
                run = Run(args.model, model_config, data, args.data, config, Path(tmp) / f"run{rep}")
                samples[kind].append(engine(run) if kind == "engine" else bare(run))
                print(f"rep {rep + 1}: {kind:6s} {samples[kind][-1]:8.0f} samples/s", flush=True)
    e, b = statistics.median(samples["engine"]), statistics.median(samples["bare"])
    print(f"median: engine {e:.0f} samples/s, bare {b:.0f} samples/s, ratio {e / b:.3f} (goal >= 0.95)")
    print(json.dumps({"ratio": round(e / b, 4), "engine_samples_per_s": round(e, 1), "bare_samples_per_s": round(b, 1)}))


if __name__ == "__main__":
    main()
