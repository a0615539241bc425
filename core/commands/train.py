"""``python main.py train``: train a model headless, with a progress bar; writes checkpoint.pt and metrics.jsonl.

Image families train on ``--dataset``; audio denoisers (``--model audio-dae``) on ``--speech`` mixed with
``--noise``. Each model setting has its own flag (``--latent-dim 8``, ``--hidden 256 128``) made from the
families' declared settings, and ``--set KEY=VALUE`` reaches any of them; ``python main.py families`` lists
them per family with their ranges. ``--resume CKPT`` continues a run (model and data come from it).

``--nproc N`` trains with N processes on this machine (data parallel: each its share of every epoch, the
batch size per process; Gloo on CPUs, NCCL on GPUs, one GPU per process). The same command under
``torchrun`` runs across machines, e.g. on each of 2 machines:
``torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29500 main.py train …``.

The run folder is held while the run writes it: a second run into it is refused, and so is a fresh run into
a folder that holds one (``--resume`` it, or ``--overwrite`` it). Ctrl-C or SIGTERM stop the run at the
current step with a checkpoint saved (a second one ends at once); with ``--nproc`` every rank stops at the same
step and rank 0 saves.
"""
from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import Callable

from models import FAMILIES, SettingError, SettingSpec

from ..audio.dataset import MixConfig
from ..audio.noise import BUILTIN_NOISES
from ..errors import LatentExplorerError
from ..image.data import BUILTIN, load_dataset
from ..runs.recipe import audio_run, family_of, image_run, needs_base, resumed_run, train_config
from ..train.folder import RunFolder
from ..train.loop import PRECISIONS, Control, TrainConfig
from ..train.schedule import SCHEDULES
from .options import folder, number, whole

RUN_OPTIONS = ("epochs", "batch_size", "lr", "lr_schedule", "seed", "device", "precision", "compile")


def setting_flags() -> dict[str, list[tuple[str, SettingSpec]]]:
    """Every setting a user chooses, by name: the (family, spec) pairs that have it."""
    flags: dict[str, list[tuple[str, SettingSpec]]] = {}
    for name, fam in FAMILIES.items():
        for spec in fam.specs(editable_only=True):
            flags.setdefault(spec.name, []).append((name, spec))
    return flags


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="vae", choices=list(FAMILIES), help="model family (default vae)")
    p.add_argument("--out", type=folder, required=True, help="run folder: checkpoint.pt and metrics.jsonl go here")
    p.add_argument("--overwrite", action="store_true", help="replace the run that --out holds (without it, a fresh "
                                                            "run refuses a folder that holds one)")
    p.add_argument("--dataset", default="digits",
                   help=f"image families: one of {', '.join(BUILTIN)}, or a path (.npz, .mat, image folder)")
    resumed = "with --resume: the checkpoint's"
    p.add_argument("--epochs", type=int, help=f"total epochs (default {TrainConfig.epochs}; {resumed})")
    p.add_argument("--batch-size", type=batch_size, help=f"default {TrainConfig.batch_size} ({resumed}); auto: on a "
                   f"CUDA GPU the batch for throughput from {TrainConfig.batch_size} up, the learning rate scaled")
    p.add_argument("--lr", type=float, help=f"learning rate, default: the family's ({TrainConfig.lr} for most; {resumed})")
    p.add_argument("--lr-schedule", choices=SCHEDULES, help="cosine: each epoch at a share of the rate that falls "
                   f"along half a cosine to 0 at the end (default {TrainConfig.lr_schedule}; {resumed})")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--seed", type=int, help=f"random seed, default 0 ({resumed})")
    p.add_argument("--precision", choices=PRECISIONS, help=f"bf16: autocast the step to bfloat16 (default "
                   f"{TrainConfig.precision}; {resumed})")
    p.add_argument("--compile", action="store_true", default=None,
                   help="compile the model's loss with torch.compile for the training steps: faster steps after a "
                        "compilation of seconds to minutes")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="train with N processes on this machine (distributed data parallel; see above for torchrun)")
    p.add_argument("--resume", type=Path, help="continue from this checkpoint (model and data set come from it)")
    p.add_argument("--image-size", type=whole(2, 1024), help="image folders: resize to this square size")
    p.add_argument("--base", type=Path, help="latent-diffusion: checkpoint of the trained autoencoder/VAE to work on")
    p.add_argument("--set", dest="settings", metavar="KEY=VALUE", action="append", default=[],
                   help="any model setting, e.g. --set levels=2 --set loss=ns (repeatable)")
    g = p.add_argument_group("model settings (python main.py families lists each family's, with ranges)")
    for name, users in setting_flags().items():
        spec = users[0][1]
        lists = any(s.kind in ("ints", "floats") for _, s in users)
        helps = {s.help: [] for _, s in users}
        for fam, s in users:
            helps[s.help].append(fam)
        g.add_argument(spec.flag, dest=f"setting_{name}", nargs="+" if lists else None,
                       metavar="N" if lists else spec.name.upper(),
                       help="; ".join(f"{h} [{', '.join(fams)}]" for h, fams in helps.items()).replace("%", "%%"))
    a = p.add_argument_group("audio denoisers (--model " + " / ".join(
        n for n, f in FAMILIES.items() if f.capabilities.modality == "audio") + ")")
    a.add_argument("--speech", type=Path, help="folder of clean speech recordings (wav, flac, ogg)")
    a.add_argument("--noise", type=Path, help="folder of noise recordings, mixed in on the fly")
    a.add_argument("--noises", nargs="*", choices=BUILTIN_NOISES, metavar="KIND",
                   help=f"built-in noises to mix in too: {', '.join(BUILTIN_NOISES)} (default: all; none: --noises)")
    a.add_argument("--snr", type=number(-60, 60), nargs=2, metavar=("LOW", "HIGH"),
                   help=f"range of signal-to-noise ratios in dB (default {MixConfig.snr_db[0]:g} {MixConfig.snr_db[1]:g})")
    a.add_argument("--segment", type=number(0.05, 60),
                   help=f"seconds per training crop (default {MixConfig.segment_s:g})")


def model_values(args: argparse.Namespace) -> dict:
    """The settings given on the command line for ``args.model``, parsed and checked one by one."""
    fam = family_of(args.model)
    declared = {s.name: s for s in fam.specs()}
    specs = {n: s for n, s in declared.items() if not s.derived}
    given: dict[str, tuple[str, str]] = {}  # name -> (how it was given, text)
    for name in setting_flags():
        value = getattr(args, f"setting_{name}")
        if value is not None:
            given[name] = ("--" + name.replace("_", "-"), " ".join(value) if isinstance(value, list) else value)
    for item in args.settings:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise LatentExplorerError(f"--set {item!r}: write KEY=VALUE, e.g. --set levels=2")
        given[key.strip().replace("-", "_")] = (f"--set {key.strip()}", text)
    values = {}
    for name, (how, text) in given.items():
        if name in declared and declared[name].derived:
            raise LatentExplorerError(f"{how}: not a setting you choose ({declared[name].help})")
        if name not in specs:
            raise LatentExplorerError(f"{how}: {args.model} has no such setting (its settings: {', '.join(specs)})")
        try:
            values[name] = specs[name].parse(text)
        except SettingError as exc:
            raise LatentExplorerError(f"{how}{str(exc).removeprefix(name)}") from None
    return values


def batch_size(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number or auto, got {text!r}") from None


def build_run(args: argparse.Namespace):
    """The run these arguments ask for: resumed from a checkpoint, or fresh through the recipe."""
    given = {k: getattr(args, k) for k in RUN_OPTIONS}
    if args.batch_size == "auto":
        if args.resume:
            raise LatentExplorerError("--batch-size auto chooses the batch of a new run; a resumed run keeps its own")
        given.update(batch_size=None, auto_batch=True)
    if args.resume:
        return resumed_run(args.resume, args.out, args.image_size, **given)
    fam = family_of(args.model)
    values = model_values(args)
    config = train_config(args.model, **given)
    if fam.capabilities.modality == "audio":
        if args.speech is None:
            raise LatentExplorerError(f"--model {args.model} needs --speech DIR (clean speech) and usually --noise DIR")
        mix = {"snr_db": args.snr, "builtin": args.noises, "segment_s": args.segment}
        return audio_run(args.model, values, args.speech, args.noise,
                         MixConfig(**{k: v for k, v in mix.items() if v is not None}), config, args.out)
    if args.speech is not None:
        raise LatentExplorerError("--speech trains an audio denoiser: add --model audio-dae")
    if needs_base(args.model) != (args.base is not None):
        raise LatentExplorerError(f"{args.model} works on a trained autoencoder or VAE: pass its checkpoint with --base "
                                  "CKPT" if args.base is None else f"--base is for latent-diffusion, not {args.model}")
    data = load_dataset(args.dataset, image_size=args.image_size)
    for path in data.skipped:
        print(f"warning: skipped unreadable image {path}", file=sys.stderr)
    source = args.dataset if args.dataset in BUILTIN else str(Path(args.dataset).expanduser().resolve())
    return image_run(args.model, values, data, source, config, args.out, args.base)


def run(args: argparse.Namespace) -> int:
    if args.nproc != 1:
        return run_ranks(args)
    from tqdm import tqdm

    from ..train.distributed import from_environment, leave
    RunFolder(args.out).check(fresh=args.resume is None, overwrite=args.overwrite)  # before the data is loaded
    r = build_run(args)
    main_rank = from_environment().main
    bar = tqdm(total=1000, unit="‰", desc=f"{r.model_name} on {Path(r.dataset_source).name}", file=sys.stderr,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}", disable=not main_rank)

    def on_event(e: dict) -> None:
        if e["type"] == "setup":
            bar.write(f"steps: {e['step_mode']} on {e['device']}, batch {e['batch_size']}"
                      + (f" × {e['world_size']} processes" if e["world_size"] > 1 else "")
                      + "".join(f"; {e[k]}" for k in ("batch_note", "note") if e[k]))
        if e["type"] == "metrics":
            bar.n = round(1000 * e["progress"])
            shown = {k: f"{e[k]:.4g}" for k in ("loss", "r2", "sisdr", "sisdr_improvement") if e.get(k) is not None}
            if e["split"] == "val":
                bar.write(f"epoch {int(e['epoch'])}: val " + ", ".join(f"{k} {v}" for k, v in shown.items()))
            else:
                bar.set_postfix(epoch=f"{e['epoch']:.1f}", **shown, eta=f"{e.get('eta_s', 0):.0f}s", refresh=False)
            bar.refresh()

    control = Control()
    try:
        with stop_on_signals(lambda _signal: control.stop()) as caught:  # (ranks meet while the trainer is built:
            trainer = r.build_trainer(on_event, control)               # one stopped there stops them all)
            ended = trainer.train(overwrite=args.overwrite)
    finally:
        bar.close()
        leave()  # a rank's process group ends before the interpreter does: left to it, a rank aborted at exit
    checkpoint = args.out / "checkpoint.pt"
    if ended == "stopped":
        print(f"{caught[0].name}: stopped at step {trainer.step:,} (epoch {trainer.epoch + 1}); saved {checkpoint}; "
              f"continue with: python main.py train --resume {checkpoint} --out {args.out}", file=sys.stderr)
        return 128 + caught[0]
    if main_rank:
        print(f"wrote {checkpoint} and {args.out / 'metrics.jsonl'}")
    return 0


def run_ranks(args: argparse.Namespace) -> int:
    """``--nproc N``: this command again in N processes, as the ranks of one run; one line if a rank dies."""
    import torch

    from ..train.device import pick_device
    from ..train.distributed import from_environment
    from ..runs.launch import POLL_S, RunProcesses, without_option
    if args.nproc < 1:
        raise LatentExplorerError(f"--nproc must be at least 1, got {args.nproc}")
    if from_environment().distributed:
        raise LatentExplorerError("--nproc starts the ranks of a run; under torchrun, leave it out")
    device = pick_device(args.device)
    if device.type == "cuda" and args.nproc > torch.cuda.device_count():
        raise LatentExplorerError(f"--nproc {args.nproc} on {device.type}: each process needs a GPU of its own and "
                                  f"this machine has {torch.cuda.device_count()}")
    argv = without_option(args.argv, "--nproc")
    ranks = RunProcesses(argv, args.nproc)
    try:
        with stop_on_signals(ranks.forward, also=(signal.SIGHUP,)) as caught:
            ranks.start()
            while not caught and ranks.poll() is None:
                time.sleep(POLL_S)
            if caught:  # every rank was told: they stop at the same step, rank 0 saves and says where
                ranks.forward(caught[0])  # (one started while the signal came)
                return ranks.wait_stopped()
            code = ranks.returncode
    except KeyboardInterrupt:  # a second signal: the ranks end at once
        ranks.stop(grace_s=5.0)
        raise
    if ranks.failure:
        checkpoint = args.out / "checkpoint.pt"
        kept = f"; the last good checkpoint is {checkpoint}" if checkpoint.is_file() else "; no checkpoint was written"
        raise LatentExplorerError(f"{ranks.failure}{kept}")
    return code


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[signal.Signals], None], also: tuple[signal.Signals, ...] = ()):
    """While the block runs, the first Ctrl-C or SIGTERM (or one of ``also``) calls ``stop(signal)`` (e.g. asks
    the loop to stop: it saves where it is, within a step) and is listed in the yielded list; a second one
    ends at once (KeyboardInterrupt)."""
    caught: list[signal.Signals] = []

    def handle(signum, _frame):
        if caught:
            raise KeyboardInterrupt
        caught.append(signal.Signals(signum))
        stop(caught[0])

    kinds = (signal.SIGINT, signal.SIGTERM, *also)
    before = {kind: signal.signal(kind, handle) for kind in kinds}
    try:
        yield caught
    finally:
        for kind, handler in before.items():
            signal.signal(kind, handler)
