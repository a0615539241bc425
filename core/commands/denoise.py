"""``python main.py denoise IN OUT --model CKPT``: denoise a recording with a trained audio denoiser.

The result has the input's sample rate, channels and length (the model runs at its own rate; the file is
resampled on the way in and out). WAV or FLAC by the output's suffix.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..audio.io import read_audio, write_audio
from ..audio.offline import denoise_recording
from ..checkpoint import load_for
from ..errors import LatentExplorerError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", type=Path, metavar="IN", help="recording to clean (wav, flac, ogg)")
    p.add_argument("output", type=Path, metavar="OUT", help="where to write the denoised recording (.wav, .flac)")
    p.add_argument("--model", type=Path, required=True, metavar="CKPT", help="checkpoint of an audio-dae run")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm
    model, _ = load_for(args.model, "denoises")  # on the CPU: a small model, faster than real time there
    if args.output.resolve() == args.input.resolve():
        raise LatentExplorerError("OUT is IN: write the denoised recording to another file")
    original, rate = read_audio(args.input)
    with tqdm(total=1000, desc=f"denoising {args.input.name}", file=sys.stderr,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}") as bar:
        denoised = denoise_recording(model, original, rate, progress=lambda f: bar.update(round(1000 * f) - bar.n))
    write_audio(args.output, denoised, rate)
    print(f"wrote {args.output} ({original.shape[1] / rate:.1f} s at {rate} Hz, {original.shape[0]} channel(s))")
    return 0
