"""``python main.py sample``: draw samples from a trained model, headless.

A ``.npz`` output holds ``images``: uint8, N x H x W (grey) or N x H x W x C (colour); a ``.png`` output
is one grid of the samples.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import LatentExplorerError
from ..image.imaging import save_grid, to_uint8
from ..image.latent import sample_grid
from ..train.checkpoint import load_for
from ..train.device import pick_device
from .options import number, whole

SUFFIXES = (".npz", ".png")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, metavar="CKPT", help="a checkpoint written by training")
    p.add_argument("--n", type=whole(1, 100_000), default=64, help="how many samples (default 64)")
    p.add_argument("--out", type=Path, required=True, help="an .npz file (the images as uint8) or a .png grid")
    p.add_argument("--temperature", type=number(0, 100), default=1.0, help="scale of the prior noise (default 1)")
    p.add_argument("--steps", type=whole(1, 100_000), help="diffusion models: DDIM steps (default: the model's own)")
    p.add_argument("--seed", type=whole(0, 2**63 - 1), default=0)
    p.add_argument("--batch-size", type=whole(1, 65_536), default=256)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")


def write_samples(path: Path, images: np.ndarray) -> Path:
    """uint8 (N, C, H, W) images as an .npz (N x H x W or N x H x W x C) or a PNG grid (cells about 32 pixels)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".png":
        return save_grid(path, images, ncols=math.ceil(math.sqrt(len(images))), cell=32)
    array = images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)
    np.savez_compressed(path, images=np.ascontiguousarray(array))
    return path


def run(args: argparse.Namespace) -> int:
    if args.out.suffix.lower() not in SUFFIXES:
        raise LatentExplorerError(f"{args.out}: write samples to an .npz or a .png file")
    model, _ = load_for(args.model, "samples", pick_device(args.device))
    if args.steps is not None:
        if not model.capabilities.iterative:
            raise LatentExplorerError(f"--steps is for diffusion models (they sample in steps), not {model.name}")
        model.sample_steps = args.steps
    start = time.perf_counter()
    images = to_uint8(sample_grid(model, args.n, args.temperature, args.seed, args.batch_size))
    seconds = time.perf_counter() - start
    write_samples(args.out, images)
    print(f"wrote {args.n} samples of {model.name} to {args.out} ({args.n / seconds:.1f} images/s)", file=sys.stderr)
    return 0
