"""Train the shipped denoiser (``resources/denoiser.pt``) again from ``../shared/data``, with a fixed seed.

The recipe is ``core.audio.pretrained``'s: ``audio-dae`` (``DEFAULT_MODEL``) on the wide-band speech of
``speech16k/`` (LibriSpeech and speechocean762 talkers; 10 % of the talkers held out for validation and
10 % for benchmarks, by talker) in the noise recordings of ``noise/`` (their last 20 % held out) and the
built-in noises (white, pink, brown, mains hum, babble of other talkers), at -5 to 20 dB SNR, with random
levels, microphone colouring, band limits and rooms. One torch thread on the CPU: 70 epochs of 80 steps
(5,600 steps) take about 48 minutes of CPU time (longer on a loaded machine; validation rises little after
epoch 40, so ``--epochs 40`` gives most of it in 28).

    python bench/train_default_denoiser.py [--data ../shared/data] [--out runs/default-denoiser]
                                           [--epochs 70] [--resume] [--install]

``--resume`` continues the run in ``--out`` to ``--epochs`` (batches are drawn from the seed, the epoch and the
step, so 12 epochs and then 6 more train as 18 at once would). ``--install`` copies the slimmed checkpoint
(weights, settings, the run's seed and split) to ``resources/denoiser.pt``. Last line: JSON with the figures of the last validation.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.audio.pretrained import DEFAULT_MIX, DEFAULT_MODEL, DEFAULT_TRAINING, default_denoiser_path, slim_payload  # noqa: E402
from core.runs.recipe import audio_run, resumed_run  # noqa: E402
from core.train.checkpoint import read_checkpoint, write_checkpoint  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "default-denoiser")
    p.add_argument("--epochs", type=int, default=DEFAULT_TRAINING.epochs)
    p.add_argument("--resume", action="store_true", help="continue the run in --out to --epochs")
    p.add_argument("--install", action="store_true", help="copy the result to resources/denoiser.pt")
    args = p.parse_args()
    speech, noise = args.data / "speech16k", args.data / "noise"
    if not speech.is_dir() or not noise.is_dir():
        print(f"error: {args.data} has no speech16k/ and noise/ folders", file=sys.stderr)
        return 1
    torch.set_num_threads(1)
    torch.manual_seed(DEFAULT_TRAINING.seed)
    config = dataclasses.replace(DEFAULT_TRAINING, epochs=args.epochs)
    checkpoint = args.out / "checkpoint.pt"
    run = resumed_run(checkpoint, args.out, epochs=args.epochs) if args.resume else \
        audio_run("audio-dae", dict(DEFAULT_MODEL), speech, noise, DEFAULT_MIX, config, args.out)
    t0, cpu0, last = time.perf_counter(), time.process_time(), {}

    def show(event: dict) -> None:
        if event["type"] == "metrics" and event["split"] == "val":
            last.update(event)
            print(f"epoch {event['epoch']:g} step {event['step']}: validation SI-SDR improvement "
                  f"{event['sisdr_improvement']:+.2f} dB, loss {event['loss']:.3f} "
                  f"({time.perf_counter() - t0:.0f} s, {time.process_time() - cpu0:.0f} s CPU)", flush=True)
        elif event["type"] == "error":
            print(f"error: {event.get('message')}", file=sys.stderr, flush=True)

    run.build_trainer(show).train(overwrite=not args.resume)
    payload = slim_payload(read_checkpoint(checkpoint))
    payload["train_state"].update(speech_dir="../shared/data/speech16k", noise_dir="../shared/data/noise")
    target = write_checkpoint(args.out / "denoiser.pt", payload)
    if args.install:
        target = write_checkpoint(default_denoiser_path(), payload)
    print(f"wrote {target} ({target.stat().st_size / 1000:.0f} kB)")
    print(json.dumps({"epochs": args.epochs, "step": last.get("step"), "val_sisdr_improvement": last.get("sisdr_improvement"),
                      "wall_s": round(time.perf_counter() - t0), "cpu_s": round(time.process_time() - cpu0),
                      "checkpoint": str(target)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
