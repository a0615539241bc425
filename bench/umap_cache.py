"""UMAP start-up cost with and without numba's disk cache: each run is a fresh Python process, as when
the app starts; the cache folder is new, so run 1 compiles and run 2 should load compiled code.

    python bench/umap_cache.py [--data PATH] [--runs 2] [--plain]

Two inputs: the 1,797 embedded 8x8 digits (UMAP's exact nearest neighbours) and 10,000 MNIST digits
reduced to 50 dimensions (pynndescent's search, of which two functions cannot be cached). For each:
seconds to import umap and to fit, per run. Timings on a shared, loaded machine are rough.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
import numpy as np
from core.image.data import load_dataset
from core.image.projection import _import_umap, pca
data = load_dataset({source!r})
x = data.float_images().flatten(1).numpy()
x = pca(x, 50) if x.shape[1] > 50 else x
t0 = time.perf_counter()
umap = _import_umap() if {patched} else __import__("umap")
t1 = time.perf_counter()
umap.UMAP(n_neighbors=15, min_dist=0.1).fit_transform(x)
print(json.dumps({{"import_s": t1 - t0, "fit_s": time.perf_counter() - t1}}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mnist10k.npz"))
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--plain", action="store_true", help="import umap as shipped (only the functions it "
                                                             "marks cache=True are cached), for comparison")
    args = parser.parse_args()
    result = {}
    for name, source in (("digits_1797", "digits"), ("mnist_10000", args.data)):
        with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
            runs = []
            for run in range(1, args.runs + 1):
                out = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT), source=source,
                                                                            patched=not args.plain)],
                                     env={**os.environ, "NUMBA_CACHE_DIR": cache}, capture_output=True, text=True,
                                     check=True)
                times = json.loads(out.stdout.strip().splitlines()[-1])
                runs.append({k: round(v, 1) for k, v in times.items()})
                print(f"{name}, run {run}: import umap {times['import_s']:.1f} s, fit {times['fit_s']:.1f} s")
        result[name] = runs
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
