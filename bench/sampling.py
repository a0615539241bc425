"""The generative learning trilemma on MNIST: every family trained for the same CPU time, then scored and timed.

Each family (VAE, GAN, flow, diffusion, flow matching, latent diffusion on the VAE) is trained for a fixed budget
of this process's CPU time (``time.process_time``: fair between families on a shared machine; torch on one
thread) on MNIST 10k (``../shared/data/mnist10k.npz``), its rate falling linearly to 0 over the budget's last
30 % (``COOLDOWN``), then: the comparison table of ``core.image.compare``
(Fréchet distance in the feature space of a classifier trained on MNIST 10k, precision, recall, label entropy,
classes, bits/dim), and its sampling speed as Compare measures it (``core.image.timing``: CPU time on one core,
median of 5 batches after a warm-up; diffusion also at 10 and 250 DDIM steps). Latent diffusion stands on a
Gaussian VAE (``BASE``) trained for the same budget besides its own. Each family's sample grid (64 samples,
seed 0) is written as a PNG.

    python bench/sampling.py [--data PATH] [--seconds 120] [--samples 500] [--only vae,gan] [--seed 0] [--out DIR]
                             [--grids DIR] [--cooldown 0.3]

Last line: JSON, one entry per family.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.image.compare import Comparer  # noqa: E402
from core.image.data import load_dataset  # noqa: E402
from core.image.imaging import tile  # noqa: E402
from core.image.timing import sampling_time  # noqa: E402
from core.runs.quicktrain import train_briefly  # noqa: E402
from core.runs.recipe import needs_base  # noqa: E402
from core.train.checkpoint import load_checkpoint  # noqa: E402
from core.train.loop import TrainConfig  # noqa: E402
from models import family  # noqa: E402

#: (family, settings over its defaults, batch size) trained on MNIST at each family's learning rate. The VAE's
#: likelihood is Bernoulli, Kingma & Welling's for MNIST (Fréchet 8.1 at 120 CPU s against 11.8 with the family's
#: Gaussian default, which suits greyscale photographs), in batches of 256 (6.3-6.4; 64: 8.2-8.4, 128: 7.2,
#: 512: 7.5). The flow, with 8 steps per scale at a rate of 1e-3, scored 11.2 sampled at temperature 1.3: after
#: 120 CPU s its density is too narrow (17.2 at 1, 11.9 at 1.2, 13.9 at 1.4). At the family's 2e-3: 10.5. Steps of
#: the last scale (7 x 7: the shapes) are cheap: 16 there and 6 in the first gave 10.1, and the detail (the first
#: scale's variables) drawn at 0.8 (0.64 x 1.25) 9.2-9.4 (a rate of 3e-3: 9.0-9.2), at 0.6 8.9-9.2 (seeds 0-2).
#: Diffusion and flow matching take small U-Nets and batches: more steps in the budget. Diffusion, sampled
#: deterministically (η = 0, DDIM 50): 10.1 with widths 32 64 in batches of 64, 8.3 in 32, 8.2 in 16; widths 16 32:
#: 7.1 in 32, 6.4 in 16, 7.1 in 8; 24 48 in 16: 6.8; 8 16 in 32: 13.5. With
#: the family's η = 1 that model scores 5.0-5.1 at 50 steps, 4.8-5.3 at 30 and 5.2 at 20. Widths 16 32 32 (a
#: third resolution, 4 x 4) at 30 steps: 4.4-5.3 with seed 0, 5.6-6.6 with seeds 1-3 (16 32 64: 7.4; min-SNR γ 1:
#: 5.6, 20: 6.3; EMA 0.995: 5.3).
#: Flow matching: 9.0, 7.0, 7.9 with 32 64; 16 32: 7.5 in 32 (3x the samples per second), 8.3 in 16; 16 32 32:
#: 6.8 in 32. Twice the rate: worse for both; half the rate, for diffusion: 6.1.
FAMILIES = (("vae", {"latent_dim": 16, "hidden": [512, 256], "likelihood": "bernoulli"}, 256),
            ("gan", {"latent_dim": 32, "channels": [16, 32, 64]}, 64),
            ("flow", {"levels": 2, "steps": 6, "top_steps": 16, "hidden": 64, "temperature": 1.25,
                      "detail_temperature": 0.48}, 64),
            ("diffusion", {"channels": [16, 32, 32], "sample_steps": 30}, 16),
            ("flow-matching", {"channels": [16, 32, 32], "sample_steps": 20}, 32),
            ("latent-diffusion", {"hidden": 256, "depth": 4, "sample_steps": 50}, 64))
#: the autoencoder latent diffusion works on: the VAE with the family's Gaussian likelihood, whose codes diffuse
#: better (latent diffusion 2.1 at 120 CPU s on it, 3.4 on the Bernoulli VAE's codes); trained as its own run
BASE = ("vae", {"latent_dim": 16, "hidden": [512, 256]}, 64)
DDIM_STEPS = (10, 250)  # besides each model's own
#: the last share of each family's budget, in which the rate falls linearly to 0 (``core.runs.quicktrain.train_for``).
#: Trained for equal steps with and without it (seeds): diffusion 5.50 -> 4.85, 6.43 -> 5.68, 6.84 -> 5.80, 5.88 ->
#: 5.53 (0.5: no better; 1, in CPU time: worse); flow matching 7.63 -> 6.60, 7.17 -> 6.66; VAE 6.17 -> 5.74, 7.64 ->
#: 7.09; GAN 6.45 -> 5.82. The flow, in CPU time: 9.08 and 9.23 against 9.15 and 8.88 (no change).
COOLDOWN = 0.3


def train(name: str, settings: dict, batch: int, data, source: str, folder: Path, seconds: float,
          base: Path | None = None, reuse: bool = False, seed: int = 0, cooldown: float = 0.0) -> Path:
    """Train for ``seconds`` of CPU time into ``folder/name`` (unless ``reuse`` and it is there), the rate cooling
    down over the last ``cooldown`` share of them; returns the checkpoint."""
    if reuse and (folder / name / "checkpoint.pt").is_file():
        return folder / name / "checkpoint.pt"
    config = TrainConfig(epochs=100_000, batch_size=batch, lr=family(name).lr, device="cpu", preview_interval_s=1e9,
                         seed=seed)
    train_briefly(data, source, name, seconds, config, folder / name, base, clock=time.process_time,
                  cooldown=cooldown, **settings)
    return folder / name / "checkpoint.pt"


def save_grid(model, path: Path) -> None:
    from PIL import Image
    with torch.no_grad():
        x = model.sample(64, generator=torch.Generator().manual_seed(0))
    Image.fromarray(tile((x.clamp(0, 1) * 255).round().byte().numpy(), ncols=8, pad=1)).resize(
        (2 * 233, 2 * 233), Image.NEAREST).save(path)


def load() -> str:
    return "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mnist10k.npz"))
    p.add_argument("--seconds", type=float, default=120.0, help="CPU seconds of training per family")
    p.add_argument("--samples", type=int, default=500, help="samples per model for the comparison table")
    p.add_argument("--only", default="", help="comma-separated families (default: all)")
    p.add_argument("--out", type=Path, help="keep the run folders here (default: a temporary folder)")
    p.add_argument("--grids", type=Path, default=Path("sampling-grids"), help="where the sample grids go")
    p.add_argument("--reuse", action="store_true", help="score the checkpoints already in --out instead of "
                                                        "training them again (runs of families split over processes)")
    p.add_argument("--seed", type=int, default=0, help="training seed (runs differ by seed: measure the spread)")
    p.add_argument("--cooldown", type=float, default=COOLDOWN,
                   help="share of each budget at its end in which the rate falls linearly to 0 (0: a constant rate)")
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    data = load_dataset(args.data)
    chosen = [f for f in FAMILIES if not args.only or f[0] in args.only.split(",")]
    print(f"{data.name}: {len(data)} images {list(data.image_shape)}; torch threads {torch.get_num_threads()}; "
          f"{args.seconds:.0f} CPU s of training per family; {load()}", flush=True)
    args.grids.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-sampling-") as tmp:
        folder = args.out or Path(tmp)
        checkpoints = {}
        for name, settings, batch in chosen:
            wall, cpu = time.perf_counter(), time.process_time()
            base = train(BASE[0], dict(BASE[1]), BASE[2], data, args.data, folder / "base", args.seconds,
                         reuse=args.reuse, seed=args.seed, cooldown=args.cooldown) if needs_base(name) else None
            checkpoints[name] = train(name, settings, batch, data, args.data, folder, args.seconds, base, args.reuse,
                                      args.seed, args.cooldown)
            print(f"trained {name}: {time.process_time() - cpu:.0f} CPU s in {time.perf_counter() - wall:.0f} s; "
                  f"{load()}", flush=True)

        comparer = Comparer(data, args.data, args.samples, progress=lambda m, f: print(f"  {m}", flush=True))
        print(f"feature classifier: accuracy {comparer.classifier.accuracy:.3f} on held-out MNIST images")
        results = {}
        for name, path in checkpoints.items():
            report = comparer.score_checkpoint(path)
            model, payload = load_checkpoint(path)
            save_grid(model, args.grids / f"{name}.png")
            speed = {"own": 1000 / report.ms_per_image}
            if model.capabilities.iterative:
                for steps in DDIM_STEPS:
                    model.sample_steps = steps
                    speed[str(steps)] = 1000 / sampling_time(model, batch=20, repeats=3).ms_per_image
            steps_trained = max((r.get("step", 0) for r in payload.get("history", [])), default=0)
            results[name] = {"images_per_cpu_s": speed, "steps": steps_trained,
                             **{k: v for k, v in report.row().items() if k not in ("label", "checkpoint", "problem")}}
        baseline = comparer.baseline()

    def show(v, fmt):
        return "—" if v is None else format(v, fmt)

    print(f"\n{'family':18}{'img/CPU s':>22}{'Fréchet':>9}{'prec':>6}{'recall':>7}{'entropy':>8}{'classes':>8}"
          f"{'bits/dim':>10}{'steps':>7}")
    print(f"{'real (held out)':18}{'':>22}{baseline.frechet:>9.2f}{baseline.precision:>6.2f}{baseline.recall:>7.2f}"
          f"{baseline.label_entropy:>8.2f}{baseline.classes_covered:>8}")
    for name, r in results.items():
        speed = " / ".join(f"{v:.3g}" for v in r["images_per_cpu_s"].values())
        nll = show(r["bits_per_dim"], ".3f") + ("" if r["nll_kind"] != "bound" else " (≤)")
        print(f"{name:18}{speed:>22}{show(r['frechet'], '.2f'):>9}{show(r['precision'], '.2f'):>6}"
              f"{show(r['recall'], '.2f'):>7}{show(r['label_entropy'], '.2f'):>8}{show(r['classes_covered'], 'd'):>8}"
              f"{nll:>10}{r['steps']:>7}")
    print("(images per CPU second on one core: the model's own steps, then diffusion and flow matching at "
          f"{' and '.join(map(str, DDIM_STEPS))} steps); grids in {args.grids}; {load()}")
    print(json.dumps({"data": data.name, "samples": args.samples, "train_cpu_seconds": args.seconds, "seed": args.seed,
                      "cooldown": args.cooldown,
                      "baseline_frechet": baseline.frechet, "families": results}))


if __name__ == "__main__":
    main()
