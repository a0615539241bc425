"""``python main.py embed``: encode a data set through a trained model and write its 2-D map as CSV
(columns index, x, y, label); optionally the TensorBoard Embedding Projector files too."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cache import cache_root
from ..data import BUILTIN, load_dataset
from ..checkpoint import load_for
from ..device import pick_device
from ..embedding import compute_map, knn_accuracy
from ..errors import LatentExplorerError
from ..export import write_coordinates_csv, write_projector
from ..projection import METHODS
from .options import whole


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, metavar="CKPT", help="a checkpoint written by train")
    p.add_argument("--dataset", help=f"one of {', '.join(BUILTIN)}, or a path (.npz, .mat, image folder); "
                                     "default: the data set the model was trained on")
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
    model, payload = load_for(args.model, "encodes", pick_device(args.device))
    source = args.dataset or payload.get("train_state", {}).get("dataset")
    if not source:
        raise LatentExplorerError(f"{args.model}: the checkpoint does not say which data set it was trained on; "
                                  "pass --dataset")
    data = load_dataset(source)
    bar = tqdm(total=1000, file=sys.stderr, bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}")

    def progress(fraction: float, text: str) -> None:
        bar.set_description_str(text.split(":")[0])
        if fraction >= 0:
            bar.n = round(1000 * fraction)
        bar.refresh()

    try:
        embedding = compute_map(model, data, args.method, seed=args.seed, progress=progress, isolate=False,
                                cache_dir=None if args.no_cache else cache_root(), batch_size=args.batch_size)
    finally:
        bar.close()
    write_coordinates_csv(args.out, embedding.coords, data)
    print(f"wrote {args.out} ({len(data):,} items, {METHODS[args.method]} of {embedding.codes.shape[1]}-d codes)")
    if data.labels is not None and len(data) >= 20:
        train_idx, val_idx = data.split()
        accuracy = knn_accuracy(embedding.coords, data.labels, train_idx, val_idx)
        print(f"class separation on the map: 5-NN accuracy {accuracy:.3f} on {len(val_idx):,} held-out items")
    if args.projector:
        write_projector(args.projector, embedding.codes, data, name=f"{model.name} codes")
        print(f"wrote Embedding Projector files in {args.projector} (tensorboard --logdir {args.projector})")
    return 0
