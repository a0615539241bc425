"""The audio branch of ``python main.py train``: ``--model audio-dae --speech DIR --noise DIR``.

Adds the denoiser's options to the train parser and builds an ``AudioRun`` from them (or from a
checkpoint with ``--resume``). Model settings go through ``--set`` (e.g. ``--set channels=2``).
"""
from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from models import AUDIO_MODELS, build_model

from ..audio.dataset import MixConfig
from ..audio.noise import BUILTIN_NOISES
from ..audio.trainer import AUDIO_TRAIN_DEFAULTS, AudioRun
from ..checkpoint import read_checkpoint
from ..errors import LatentExplorerError


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(f"audio denoiser (--model {' / '.join(AUDIO_MODELS)})")
    g.add_argument("--speech", type=Path, help="folder of clean speech recordings (wav, flac, ogg)")
    g.add_argument("--noise", type=Path, help="folder of noise recordings, mixed in on the fly")
    g.add_argument("--noises", nargs="*", choices=BUILTIN_NOISES, metavar="KIND",
                   help=f"built-in noises to mix in too: {', '.join(BUILTIN_NOISES)} (default: all; none: --noises)")
    g.add_argument("--snr", type=float, nargs=2, metavar=("LOW", "HIGH"),
                   help="range of signal-to-noise ratios in dB (default "
                        f"{MixConfig.snr_db[0]:g} {MixConfig.snr_db[1]:g})")
    g.add_argument("--segment", type=float, help=f"seconds per training crop (default {MixConfig.segment_s:g})")


def is_audio(args: argparse.Namespace) -> bool:
    """Whether this train command is for a denoiser (by --model, --speech, or the checkpoint resumed)."""
    if args.resume:
        return read_checkpoint(args.resume)["model"]["name"] in AUDIO_MODELS
    return args.model in AUDIO_MODELS or args.speech is not None


def build_audio_run(args: argparse.Namespace) -> AudioRun:
    from .train import parse_settings, train_config
    if args.resume:
        payload = read_checkpoint(args.resume)
        state = payload.get("train_state") or {}
        config = train_config(args, state.get("config", AUDIO_TRAIN_DEFAULTS))
        if state.get("epoch", 0) >= config.epochs:
            raise LatentExplorerError(f"{args.resume}: already trained for {state['epoch']} epochs; pass --epochs "
                                      f"with a larger total to train on")
        return AudioRun.from_checkpoint(payload, args.out, **asdict(config))
    if args.model not in AUDIO_MODELS:
        raise LatentExplorerError(f"--speech trains an audio denoiser: add --model {next(iter(AUDIO_MODELS))}")
    if args.speech is None:
        raise LatentExplorerError(f"--model {args.model} needs --speech DIR (clean speech) and usually --noise DIR")
    given = {"snr_db": args.snr, "builtin": args.noises, "segment_s": args.segment}
    mix = MixConfig(**{k: v for k, v in given.items() if v is not None})
    model_config = parse_settings(args.settings)
    try:
        build_model(args.model, model_config)
    except (ValueError, TypeError) as exc:
        raise LatentExplorerError(f"{args.model}: bad model settings ({exc})") from exc
    config = train_config(args, AUDIO_TRAIN_DEFAULTS)
    return AudioRun(args.model, model_config, args.speech.expanduser(),
                    args.noise.expanduser() if args.noise else None, mix, config, args.out)
