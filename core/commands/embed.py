"""``python main.py embed``: encode a data set through a trained model and write its 2-D map as CSV
(columns index, x, y, label); optionally the TensorBoard Embedding Projector files too.

Models whose encoder is slow (GAN inversion and DDIM inversion optimise or integrate per image) get a
warning before they start, the estimated time once the first batch is done, and the time left as they
go; ``--generated N`` maps N samples the model generates instead, as the Map panel does for them."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import LatentExplorerError
from ..image.cache import cache_root
from ..image.data import BUILTIN, load_dataset
from ..image.embedding import Eta, compute_generated_map, compute_map, duration_text, generated_data, knn_accuracy
from ..image.export import write_coordinates_csv, write_projector
from ..image.projection import METHODS, MIN_ITEMS
from ..train.checkpoint import load_for
from ..train.device import pick_device
from .options import whole


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, metavar="CKPT", help="a checkpoint written by train")
    p.add_argument("--dataset", help=f"one of {', '.join(BUILTIN)}, or a path (.npz, .mat, image folder); "
                                     "default: the data set the model was trained on")
    p.add_argument("--generated", type=int, metavar="N", help="map N samples the model generates from random z "
                                                              "instead of a data set (fast for GANs, whose "
                                                              "encoding is inversion by optimisation)")
    p.add_argument("--method", default="umap", choices=list(METHODS), help="projection (default: umap)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.csv", help="where to write the coordinates")
    p.add_argument("--projector", type=Path, metavar="DIR", help="also write Embedding Projector files here")
    p.add_argument("--batch-size", type=whole(1, 65_536), default=256)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--seed", type=whole(0, 2**32 - 1), help="make UMAP / t-SNE reproducible (UMAP then runs single-threaded)")
    p.add_argument("--no-cache", action="store_true", help=f"do not read or write cached codes and maps "
                                                           f"(kept in {cache_root()})")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm
    if args.batch_size < 1:
        raise LatentExplorerError("--batch-size must be at least 1")
    if args.generated is not None and args.generated < MIN_ITEMS:
        raise LatentExplorerError(f"--generated needs at least {MIN_ITEMS} samples, got {args.generated}")
    model, payload = load_for(args.model, "samples" if args.generated is not None else "encodes",
                              pick_device(args.device))
    cache_dir = None if args.no_cache else cache_root()
    data = _dataset(args, payload) if args.generated is None else None
    slow = data is not None and model.capabilities.encodes_slowly
    if slow:
        print(f"warning: {model.name} models encode each image by a search (slow): the {len(data):,} images may "
              f"take minutes; the estimate follows the first batch of {min(args.batch_size, len(data))}. "
              "--generated N maps N generated samples instead, in seconds", file=sys.stderr)
    bar = tqdm(total=1000, file=sys.stderr, bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}")
    eta, told = Eta(), []  # told: whether the estimate has been printed

    def progress(fraction: float, text: str) -> None:
        bar.set_description_str(text)
        if fraction >= 0:
            bar.n = round(1000 * fraction)
        bar.refresh()
        if slow and not told and text.startswith("encoding:") and 0 < fraction < 1:
            told.append(True)
            bar.write(f"estimated time to encode {len(data):,} images: about "
                      f"{duration_text(eta.seconds_left(fraction) / (1 - fraction))}", file=sys.stderr)

    try:
        if data is None:
            embedding = compute_generated_map(model, args.method, args.generated, seed=args.seed or 0,
                                              progress=progress, isolate=False, cache_dir=cache_dir,
                                              batch_size=args.batch_size)
            data, what = generated_data(embedding), "generated samples"
        else:
            embedding = compute_map(model, data, args.method, seed=args.seed, progress=progress, isolate=False,
                                    cache_dir=cache_dir, batch_size=args.batch_size)
            what = "items"
    finally:
        bar.close()
    write_coordinates_csv(args.out, embedding.coords, data)
    print(f"wrote {args.out} ({len(data):,} {what}, {METHODS[args.method]} of {embedding.codes.shape[1]}-d codes)")
    if data.labels is not None and len(data) >= 20:
        train_idx, val_idx = data.split()
        accuracy = knn_accuracy(embedding.coords, data.labels, train_idx, val_idx)
        print(f"class separation on the map: 5-NN accuracy {accuracy:.3f} on {len(val_idx):,} held-out items")
    if args.projector:
        write_projector(args.projector, embedding.codes, data, name=f"{model.name} codes")
        print(f"wrote Embedding Projector files in {args.projector} (tensorboard --logdir {args.projector})")
    return 0


def _dataset(args: argparse.Namespace, payload: dict):
    source = args.dataset or payload.get("train_state", {}).get("dataset")
    if not source:
        raise LatentExplorerError(f"{args.model}: the checkpoint does not say which data set it was trained on; "
                                  "pass --dataset (or map generated samples with --generated N)")
    return load_dataset(source)
