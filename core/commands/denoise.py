"""``python main.py denoise IN OUT [--model CKPT]``: denoise a recording with a trained audio denoiser (by
default the one that ships with the app, ``core.audio.pretrained``).

The result has the input's sample rate, channels and length (the model runs at its own rate; the file is
resampled on the way in and out). WAV or FLAC by the output's suffix. The recording is read and written a
block at a time (memory does not grow with its length); the output appears only once it is complete.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..audio.offline import denoise_file
from ..audio.pretrained import load_default_denoiser
from ..errors import LatentExplorerError
from ..train.checkpoint import load_for


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", type=Path, metavar="IN", help="recording to clean (wav, flac, ogg)")
    p.add_argument("output", type=Path, metavar="OUT", help="where to write the denoised recording (.wav, .flac)")
    p.add_argument("--model", type=Path, metavar="CKPT",
                   help="checkpoint of an audio-dae run (default: the denoiser that ships with the app)")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm
    if args.output.resolve() == args.input.resolve():
        raise LatentExplorerError("OUT is IN: write the denoised recording to another file")
    # on the CPU: a small model, faster than real time there
    model = load_for(args.model, "denoises")[0] if args.model else load_default_denoiser()[0]
    bars = []  # made on the first progress, once the file has been found fit to read

    def progress(fraction: float) -> None:
        if not bars:
            bars.append(tqdm(total=1000, desc=f"denoising {args.input.name}", file=sys.stderr,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}"))
        bars[0].update(round(1000 * fraction) - bars[0].n)

    try:
        frames, rate, channels = denoise_file(model, args.input, args.output, progress)
    finally:
        for bar in bars:
            bar.close()
    print(f"wrote {args.output} ({frames / rate:.1f} s at {rate} Hz, {channels} channel(s))")
    return 0
