"""The generative learning trilemma on MNIST: sampling speed of every family on the CPU, and the comparison table.

Each family (VAE, GAN, flow, diffusion, latent diffusion on the VAE) is trained for a fixed time budget on
MNIST 10k (``../shared/data/mnist10k.npz``), then: images per second of its sampler on the CPU (diffusion
at 10, 50 and 250 DDIM steps; batches of 100, after a warm-up), and the comparison table of ``core.image.compare``
(Fréchet distance in the feature space of a classifier trained on MNIST 10k, precision, recall, label entropy,
classes, bits/dim, sampling and training time). Short training budgets: the figures compare the families at
equal (small) CPU training time, not at convergence (latent diffusion also stands on the VAE's budget). The
machine may be shared: timings are rough. About 20 minutes on two CPU cores.

    python bench/sampling.py [--data PATH] [--seconds 120] [--samples 500] [--out DIR]

Last line: JSON, one entry per family.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.image.compare import Comparer  # noqa: E402
from core.image.data import load_dataset  # noqa: E402
from core.runs.quicktrain import train_briefly  # noqa: E402
from core.runs.recipe import needs_base  # noqa: E402
from core.train.checkpoint import load_checkpoint  # noqa: E402
from core.train.loop import TrainConfig  # noqa: E402

#: (family, settings, learning rate) trained on MNIST; latent diffusion works on the VAE's codes.
FAMILIES = (("vae", {"latent_dim": 16, "hidden": [512, 256]}, 1e-3),
            ("gan", {"latent_dim": 32, "channels": [16, 32, 64]}, 5e-4),
            ("flow", {"levels": 2, "steps": 4, "hidden": 64}, 1e-3),
            ("diffusion", {"channels": [16, 32], "sample_steps": 50}, 2e-3),
            ("latent-diffusion", {"hidden": 256, "depth": 4, "sample_steps": 50}, 1e-3))
DDIM_STEPS = (10, 50, 250)


def train(name: str, settings: dict, lr: float, data, source: str, folder: Path, seconds: float,
          base: Path | None = None) -> Path:
    """Train for ``seconds`` (at most 500 epochs) into ``folder/name``; returns the checkpoint."""
    config = TrainConfig(epochs=500, batch_size=64, lr=lr, device="cpu", preview_interval_s=1e9)
    train_briefly(data, source, name, seconds, config, folder / name, base, **settings)
    return folder / name / "checkpoint.pt"


@torch.no_grad()
def images_per_second(model, n: int, batch: int = 100) -> float:
    model.sample(min(batch, 8))  # warm-up
    start = time.perf_counter()
    for i in range(0, n, batch):
        model.sample(min(batch, n - i))
    return n / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mnist10k.npz"))
    p.add_argument("--seconds", type=float, default=120.0, help="training time per family")
    p.add_argument("--samples", type=int, default=500, help="samples per model for the comparison table")
    p.add_argument("--out", type=Path, help="keep the run folders here (default: a temporary folder)")
    args = p.parse_args()
    torch.manual_seed(0)
    data = load_dataset(args.data)
    print(f"{data.name}: {len(data)} images {list(data.image_shape)}; torch threads {torch.get_num_threads()}; "
          f"{args.seconds:.0f} s of training per family")
    with tempfile.TemporaryDirectory(prefix="bench-sampling-") as tmp:
        folder = args.out or Path(tmp)
        checkpoints = {}
        for name, settings, lr in FAMILIES:
            start = time.perf_counter()
            base = checkpoints["vae"] if needs_base(name) else None
            checkpoints[name] = train(name, settings, lr, data, args.data, folder, args.seconds, base)
            print(f"trained {name} for {time.perf_counter() - start:.0f} s")

        comparer = Comparer(data, args.data, args.samples, progress=lambda m, f: print(f"  {m}", flush=True))
        print(f"feature classifier: accuracy {comparer.classifier.accuracy:.3f} on held-out MNIST images")
        results = {}
        for name, path in checkpoints.items():
            report = comparer.score_checkpoint(path)
            model, _ = load_checkpoint(path)
            if model.capabilities.iterative:
                speed = {}
                for steps in DDIM_STEPS:
                    model.sample_steps = steps
                    speed[str(steps)] = images_per_second(model, 100 if steps < 250 else 40, batch=100)
            else:
                speed = images_per_second(model, 2000)
            results[name] = {"images_per_s": speed, **{k: v for k, v in report.row().items()
                                                        if k not in ("label", "checkpoint", "problem")}}
        baseline = comparer.baseline()

    def show(v, fmt):
        return "—" if v is None else format(v, fmt)

    print(f"\n{'family':18}{'img/s (CPU)':>26}{'Fréchet':>9}{'prec':>6}{'recall':>7}{'entropy':>8}{'classes':>8}"
          f"{'bits/dim':>10}{'train s':>8}")
    print(f"{'real (held out)':18}{'':>26}{baseline.frechet:>9.2f}{baseline.precision:>6.2f}{baseline.recall:>7.2f}"
          f"{baseline.label_entropy:>8.2f}{baseline.classes_covered:>8}")
    for name, r in results.items():
        speed = r["images_per_s"]
        speed_text = " / ".join(f"{v:.0f}@{k}" for k, v in speed.items()) if isinstance(speed, dict) else f"{speed:.0f}"
        nll = show(r["bits_per_dim"], ".3f") + ("" if r["nll_kind"] != "bound" else " (≤)")
        print(f"{name:18}{speed_text:>26}{show(r['frechet'], '.2f'):>9}{show(r['precision'], '.2f'):>6}"
              f"{show(r['recall'], '.2f'):>7}{show(r['label_entropy'], '.2f'):>8}{show(r['classes_covered'], 'd'):>8}"
              f"{nll:>10}{show(r['train_time_s'], '.0f'):>8}")
    print("(diffusion: images/s at DDIM steps 10 / 50 / 250; the table's Fréchet distance uses each model's own "
          "steps, 50)")
    print(json.dumps({"data": data.name, "samples": args.samples, "train_seconds": args.seconds,
                      "baseline_frechet": baseline.frechet, "families": results}))


if __name__ == "__main__":
    main()
