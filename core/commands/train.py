"""``python main.py train``: train a model headless, with a progress bar; writes checkpoint.pt and metrics.jsonl."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from models import AUDIO_MODELS, MODELS, build_model

from ..checkpoint import read_checkpoint
from ..data import BUILTIN, load_dataset
from ..device import pick_device
from ..errors import LatentExplorerError
from ..model_setup import base_model_setup
from ..trainer import Run, TrainConfig, family_lr, model_config_for
from . import train_audio


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model headless", description=__doc__)
    p.add_argument("--dataset", default="digits", help=f"one of {', '.join(BUILTIN)}, or a path (.npz, .mat, image folder)")
    p.add_argument("--model", default="vae", choices=[*MODELS, *AUDIO_MODELS])
    p.add_argument("--out", type=Path, required=True, help="run folder: checkpoint.pt and metrics.jsonl go here")
    resumed = "with --resume: the checkpoint's"
    p.add_argument("--epochs", type=int, help=f"total epochs (default {TrainConfig.epochs}; {resumed})")
    p.add_argument("--batch-size", type=int, help=f"default {TrainConfig.batch_size} ({resumed})")
    p.add_argument("--lr", type=float, help=f"learning rate, default: the family's ({TrainConfig.lr} for most; {resumed})")
    p.add_argument("--latent-dim", type=int)
    p.add_argument("--hidden", type=int, nargs="+", help="fully-connected widths, e.g. 256 128")
    p.add_argument("--channels", type=int, nargs="+", help="conv widths, e.g. 32 64 128")
    p.add_argument("--beta", type=float, help="VAE: weight of the KL term")
    p.add_argument("--likelihood", choices=["gaussian", "bernoulli"], help="VAE reconstruction likelihood")
    p.add_argument("--noise-std", type=float, help="autoencoders: denoising noise level (0 = plain)")
    p.add_argument("--image-size", type=int, help="image folders: resize to this square size")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--seed", type=int, help=f"random seed, default 0 ({resumed})")
    p.add_argument("--resume", type=Path, help="continue from this checkpoint (model and data set come from it)")
    p.add_argument("--base", type=Path, help="latent-diffusion: checkpoint of the trained autoencoder/VAE to work on")
    p.add_argument("--set", dest="settings", metavar="KEY=VALUE", action="append", default=[],
                   help="any other model setting, value as JSON, e.g. --set levels=2 --set loss='\"ns\"' (repeatable)")
    train_audio.add_arguments(p)


def model_overrides(args: argparse.Namespace) -> dict:
    keys = {"latent_dim": args.latent_dim, "hidden": args.hidden, "channels": args.channels, "beta": args.beta,
            "likelihood": args.likelihood, "noise_std": args.noise_std}
    return {**{k: v for k, v in keys.items() if v is not None}, **parse_settings(args.settings)}


def parse_settings(items: list[str]) -> dict:
    """``KEY=VALUE`` strings as a dict; values are JSON (``2``, ``[32, 64]``, ``"ns"``), else plain text."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise LatentExplorerError(f"--set {item!r}: write KEY=VALUE, e.g. --set levels=2")
        try:
            out[key.strip().replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip().replace("-", "_")] = value
    return out


def train_config(args: argparse.Namespace, base: dict) -> TrainConfig:
    """``base`` (a checkpoint's config, or the defaults) with the options given on the command line."""
    given = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
             "device": args.device}
    config = TrainConfig.from_dict({**base, **{k: v for k, v in given.items() if v is not None}})
    pick_device(config.device)  # a bad device fails now, before the data loads
    return config


def build_run(args: argparse.Namespace) -> Run:
    if args.resume:
        payload = read_checkpoint(args.resume)
        state = payload.get("train_state") or {}
        source = state.get("dataset")
        if not source:
            raise LatentExplorerError(f"{args.resume}: the checkpoint does not say which data set it was trained on")
        config = train_config(args, state.get("config", {}))
        if state.get("epoch", 0) >= config.epochs:
            raise LatentExplorerError(f"{args.resume}: already trained for {state['epoch']} epochs; pass --epochs "
                                      f"with a larger total to train on")
        data = load_dataset(source, image_size=args.image_size)
        spec = payload["model"]
        if list(data.image_shape) != list(spec["config"]["image_shape"]):
            raise LatentExplorerError(f"{args.resume}: trained on images {spec['config']['image_shape']}, "
                                      f"but {source} has {list(data.image_shape)}")
        return Run(spec["name"], spec["config"], data, source, config, args.out, resume=payload)
    config = train_config(args, {"lr": family_lr(args.model)})
    data = load_dataset(args.dataset, image_size=args.image_size)
    for path in data.skipped:
        print(f"warning: skipped unreadable image {path}", file=sys.stderr)
    train_idx, _ = data.split(config.val_fraction, config.seed)
    source = args.dataset if args.dataset in BUILTIN else str(Path(args.dataset).expanduser().resolve())
    overrides, init_state = model_overrides(args), None
    if args.model == "latent-diffusion":
        if not args.base:
            raise LatentExplorerError("latent-diffusion works on a trained autoencoder or VAE: pass its checkpoint "
                                      "with --base CKPT")
        base_overrides, init_state = base_model_setup(args.base, data.image_shape)
        overrides.update(base_overrides)
    elif args.base:
        raise LatentExplorerError(f"--base is for latent-diffusion, not {args.model}")
    model_config = model_config_for(args.model, data, train_idx, **overrides)
    try:
        build_model(args.model, model_config)
    except (ValueError, TypeError) as exc:
        raise LatentExplorerError(f"{args.model} cannot be built for {data.name} {list(data.image_shape)}: "
                                  f"{exc}") from exc
    return Run(args.model, model_config, data, source, config, args.out, init_state=init_state)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm
    r = train_audio.build_audio_run(args) if train_audio.is_audio(args) else build_run(args)
    bar = tqdm(total=1000, unit="‰", desc=f"{r.model_name} on {Path(r.dataset_source).name}", file=sys.stderr,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")

    def on_event(e: dict) -> None:
        if e["type"] == "metrics":
            bar.n = round(1000 * e["progress"])
            shown = {k: f"{e[k]:.4g}" for k in ("loss", "r2", "sisdr", "sisdr_improvement") if e.get(k) is not None}
            if e["split"] == "val":
                bar.write(f"epoch {int(e['epoch'])}: val " + ", ".join(f"{k} {v}" for k, v in shown.items()))
            else:
                bar.set_postfix(epoch=f"{e['epoch']:.1f}", **shown, eta=f"{e.get('eta_s', 0):.0f}s", refresh=False)
            bar.refresh()

    try:
        r.build_trainer(on_event).train()
    finally:
        bar.close()
    print(f"wrote {args.out / 'checkpoint.pt'} and {args.out / 'metrics.jsonl'}")
    return 0
