"""A generative speedrun: train until the samples reach a target Fréchet distance, and time it.

One family (default flow matching) trains on MNIST 10k (``../shared/data/mnist10k.npz``); every
``--check-every`` seconds of training, the training pauses, 1,000 samples from the moving average of the weights
are scored against the data set (the Fréchet distance of ``core.image.compare``, in its classifier's features),
and the run ends when the distance is at most ``--target`` or the budget is spent. Scoring does not count as
training time. On a CUDA GPU the clock is the wall clock (synchronised; goal: Fréchet ≤ 2 within 60 s on one
H100-class GPU); on a CPU it is this process's CPU time on one thread, with a longer budget (the same code).

    python bench/speedrun.py [--device auto] [--family flow-matching] [--target 2] [--budget 60] [--set k=v ...]

Last line: JSON (reached, seconds to the target, steps, the Fréchet distance at each check).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.image.compare import Comparer  # noqa: E402
from core.image.data import load_dataset  # noqa: E402
from core.runs.recipe import image_run  # noqa: E402
from core.train.device import pick_device  # noqa: E402
from core.train.loop import Control, TrainConfig  # noqa: E402
from models import family  # noqa: E402

SAMPLES = 1000
#: what the GPU run trains (the CPU run: the family's defaults, a small batch)
GPU_SETTINGS = {"flow-matching": {"channels": [64, 128, 128], "sample_steps": 20}}


class Clock:
    """Training time: wall time synchronised with the GPU, or this process's CPU time; pauses while scoring."""

    def __init__(self, device: torch.device):
        self.device, self.paused = device, 0.0
        self.start = self._now()

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return time.perf_counter()
        return time.process_time()

    def elapsed(self) -> float:
        return self._now() - self.start - self.paused

    @contextlib.contextmanager
    def pause(self):
        began = self._now()
        try:
            yield
        finally:
            self.paused += self._now() - began


def parse_settings(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = [json.loads(v) for v in value.split(",")] if "," in value else value
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mnist10k.npz"))
    p.add_argument("--device", default="auto")
    p.add_argument("--family", default="flow-matching")
    p.add_argument("--target", type=float, default=2.0, help="Fréchet distance to reach")
    p.add_argument("--budget", type=float, help="most seconds of training (default: 60 on a GPU, 1800 on a CPU)")
    p.add_argument("--check-every", type=float, help="seconds of training between checks (default: budget / 20)")
    p.add_argument("--batch", type=int, help="batch size (default: 256 on a GPU, 64 on a CPU)")
    p.add_argument("--lr", type=float, help="learning rate (default: the family's)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="model settings, e.g. channels=32,64")
    args = p.parse_args()
    device = pick_device(args.device)
    gpu = device.type == "cuda"
    if not gpu:
        torch.set_num_threads(1)
    budget = args.budget or (60.0 if gpu else 1800.0)
    check_every = args.check_every or budget / 20
    settings = {**(GPU_SETTINGS.get(args.family, {}) if gpu else {}), **parse_settings(args.set)}
    torch.manual_seed(0)
    data = load_dataset(args.data)
    comparer = Comparer(data, args.data, SAMPLES)  # the classifier and the real features: before the clock starts
    config = TrainConfig(epochs=100_000, batch_size=args.batch or (256 if gpu else 64),
                         lr=args.lr or family(args.family).lr, device=str(device), preview_interval_s=1e9,
                         checkpoint_interval_s=1e9, precision="bf16" if gpu else "fp32")
    run = image_run(args.family, settings, data, args.data, config)
    control, checks = Control(), []
    print(f"{args.family} {settings or '(defaults)'} on {device}, batch {config.batch_size}, lr {config.lr:g}: "
          f"target Fréchet ≤ {args.target} within {budget:.0f} s ({'wall' if gpu else 'CPU'} time); "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    state = {"trainer": None, "next": check_every, "reached": None}

    def on_event(event: dict) -> None:
        if event.get("type") != "metrics" or event.get("split") != "train":
            return
        seconds = clock.elapsed()
        if seconds >= state["next"] or seconds >= budget:
            state["next"] = seconds + check_every
            with clock.pause():
                frechet = score(state["trainer"].model, comparer)
            checks.append({"seconds": round(seconds, 2), "step": event["step"], "frechet": round(frechet, 3)})
            print(f"  {seconds:7.1f} s  step {event['step']:6d}  Fréchet {frechet:.3f}", flush=True)
            if frechet <= args.target:
                state["reached"] = seconds
                control.stop()
        if seconds >= budget:
            control.stop()

    trainer = run.build_trainer(on_event, control)
    state["trainer"] = trainer
    clock = Clock(device)
    trainer.train()
    reached = state["reached"]
    print(f"{'reached' if reached is not None else 'did not reach'} Fréchet ≤ {args.target}"
          + (f" in {reached:.1f} s" if reached is not None else f" within {budget:.0f} s") + f" of training on {device}")
    print(json.dumps({"family": args.family, "device": str(device), "target": args.target, "budget_s": budget,
                      "reached": reached is not None, "seconds": reached, "steps": trainer.step, "checks": checks,
                      "settings": settings, "batch_size": config.batch_size, "lr": config.lr}))


@torch.no_grad()
def score(model, comparer: Comparer) -> float:
    """The Fréchet distance of ``SAMPLES`` samples of ``model`` (eval mode: the averaged weights)."""
    was_training = model.training
    model.eval()
    try:
        gen = torch.Generator(device=model.device).manual_seed(0)
        images = torch.cat([model.sample(250, generator=gen) for _ in range(SAMPLES // 250)])
        images = (images.float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
        return comparer.score_images("speedrun", model.name, images).frechet
    finally:
        model.train(was_training)


if __name__ == "__main__":
    main()
