"""Latent codes to the plane: PCA (instant), UMAP (umap-learn) and t-SNE (scikit-learn).

Large sets: UMAP and t-SNE learn the map from a random sample of ``FIT_SAMPLE`` codes and then place the
rest in batches of ``PLACE_BATCH``, each at the distance-weighted mean of the positions of its nearest
sampled codes (what umap-learn's ``transform`` starts from; its optimisation after that took over 50 s of
CPU per 50,000 codes, too slow for a million), reporting progress as they go. PCA of any size is one
pass (scikit-learn's covariance solver for few dimensions).

UMAP and t-SNE run in a worker process by default (``isolate=True``): the caller's threads never wait
for the GIL while they compute, a cancel stops the work at once (the process is ended), and a crash in
compiled code cannot take the app down. The process stays alive between calls, so umap is imported once.
It is started with "spawn": a script that projects this way needs the ``if __name__ == "__main__"`` guard.

UMAP runs on numba. umap-learn and pynndescent compile most of their functions without ``cache=True``,
which costs every new process tens of seconds to a minute; ``_import_umap`` turns numba's disk cache on
for all of them, under ``numba_cache_dir()``, so that only the very first run compiles (but for
pynndescent's nearest-neighbour descent, which numba cannot cache: it compiles in each new process, on
data sets of over 4,096 items).
"""
from __future__ import annotations

import atexit
import functools
import multiprocessing
import os
import re
import signal
import sys
import threading
import traceback
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import Cancelled, LatentExplorerError
from .cache import cache_root

METHODS = {"pca": "PCA", "umap": "UMAP", "tsne": "t-SNE"}
#: Codes wider than this are reduced to it by PCA before UMAP or t-SNE (the usual first step).
INPUT_DIM = 50
#: Fewest items UMAP and t-SNE accept.
MIN_ITEMS = 5
#: Above this many codes, UMAP and t-SNE learn the map from a sample of this many and place the rest.
FIT_SAMPLE = 10_000
PLACE_BATCH = 50_000
SAMPLE_EPOCHS = 200  # UMAP's layout epochs on the sample (umap-learn's choice for over 10,000 codes)
PLACE_NEIGHBOURS = 10
POLL_S = 0.05
STOP_GRACE_S = 0.5

Progress = Callable[[float, str], None]  # (fraction done, or -1 when unknown; what is happening)


def numba_cache_dir() -> Path:
    """Where numba keeps compiled code between runs: ``$NUMBA_CACHE_DIR``, else ``cache_root()/numba``."""
    return Path(os.environ.get("NUMBA_CACHE_DIR") or cache_root() / "numba")


def project(codes: np.ndarray, method: str = "pca", *, seed: int | None = None, progress: Progress | None = None,
            cancel: threading.Event | None = None, isolate: bool = True) -> np.ndarray:
    """The (N, 2) float32 map of codes (N, D) by ``method`` (a key of ``METHODS``).

    ``seed`` makes UMAP and t-SNE reproducible (UMAP then runs single-threaded); ``progress(fraction,
    text)`` is called along the way; setting ``cancel`` raises ``Cancelled``. With ``isolate`` UMAP and
    t-SNE run in the worker process, else in the calling thread (the command line does that).
    """
    if method not in METHODS:
        raise LatentExplorerError(f"unknown projection {method!r}; choose from {', '.join(METHODS)}")
    report = progress or (lambda _fraction, _text: None)
    x = _checked(codes, method)
    _raise_if_cancelled(cancel)
    if x.shape[1] > INPUT_DIM and len(x) > INPUT_DIM:
        report(-1.0, f"reducing {x.shape[1]} dimensions to {INPUT_DIM} (PCA)")
        x = pca(x, INPUT_DIM)
    if method == "pca":
        coords = pca(x, 2)
    elif isolate:
        coords = _fit_in_worker(method, x, seed, report, cancel)
    else:
        coords = _fit(method, x, seed, report)
    _raise_if_cancelled(cancel)
    report(1.0, f"{METHODS[method]} done")
    return np.ascontiguousarray(coords, dtype=np.float32)


def pca(x: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` principal components of ``x`` (columns of zeros where there are fewer)."""
    from sklearn.decomposition import PCA
    n_components = min(k, len(x), x.shape[1])
    out = np.zeros((len(x), k), np.float32)
    if n_components > 0 and len(x) > 1:
        out[:, :n_components] = PCA(n_components, random_state=0).fit_transform(x)
    return out


def _checked(codes: np.ndarray, method: str) -> np.ndarray:
    x = np.asarray(codes, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] == 0:
        raise LatentExplorerError(f"codes must be an (N, D) array, got shape {x.shape}")
    fewest = 1 if method == "pca" else MIN_ITEMS
    if len(x) < fewest:
        raise LatentExplorerError(f"{METHODS[method]} needs at least {fewest} items, got {len(x)}")
    if not np.isfinite(x).all():
        raise LatentExplorerError("the codes contain NaN or infinite values: is the model trained, or did its "
                                  "training diverge?")
    return x


def _raise_if_cancelled(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()


# --- the fits ---------------------------------------------------------------------------------
def _fit(method: str, x: np.ndarray, seed: int | None, progress: Progress, threads: int | None = None) -> np.ndarray:
    """UMAP or t-SNE of ``x``, on at most ``threads`` threads (None: all); over ``FIT_SAMPLE`` codes, learnt
    from a sample of them and the rest placed in batches."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(threads):
        if len(x) <= FIT_SAMPLE:
            return (_fit_umap if method == "umap" else _fit_tsne)(x, seed, progress, threads)[1]
        sample = np.sort(np.random.default_rng(seed or 0).choice(len(x), FIT_SAMPLE, replace=False))
        progress(-1.0, f"{METHODS[method]}: learning the map from {FIT_SAMPLE:,} of {len(x):,} codes")
        _, learnt = (_fit_umap if method == "umap" else _fit_tsne)(x[sample], seed, progress, threads, SAMPLE_EPOCHS)
        place = functools.partial(place_by_neighbours, x[sample], learnt)
        coords = np.empty((len(x), 2), np.float32)
        coords[sample] = learnt
        rest = np.setdiff1d(np.arange(len(x)), sample)
        for start in range(0, len(rest), PLACE_BATCH):
            batch = rest[start:start + PLACE_BATCH]
            coords[batch] = place(x[batch])
            done = start + len(batch)
            progress(done / len(rest), f"{METHODS[method]}: placed {done:,} of {len(rest):,} more codes on the map")
        return coords


def place_by_neighbours(known: np.ndarray, known_coords: np.ndarray, x: np.ndarray,
                        k: int = PLACE_NEIGHBOURS) -> np.ndarray:
    """Positions for codes ``x``: the mean of the map positions of their ``k`` nearest ``known`` codes,
    weighted by inverse distance."""
    from sklearn.neighbors import NearestNeighbors
    distance, nearest = NearestNeighbors(n_neighbors=min(k, len(known)), algorithm="brute").fit(known).kneighbors(x)
    weight = 1.0 / (distance + 1e-6 * (distance.max() or 1.0))
    weight /= weight.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkd->nd", weight, known_coords[nearest]).astype(np.float32)


@functools.cache
def _import_umap():
    """umap, with numba's disk cache in ``numba_cache_dir()`` for all of its compiled functions."""
    os.environ["NUMBA_CACHE_DIR"] = str(numba_cache_dir())
    if "numba" in sys.modules:  # imported before the variable was set: make numba read it again
        from numba.core import config
        config.reload_config()
    from numba.core.errors import NumbaWarning
    # pynndescent's nn_descent cannot be cached (it calls functions passed as arguments): it compiles in
    # each new process, for data sets of over 4,096 items (smaller ones need no nearest-neighbour search)
    warnings.filterwarnings("ignore", message=".*Cannot cache compiled function", category=NumbaWarning)
    import umap
    from numba.core.dispatcher import Dispatcher
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in ("umap", "pynndescent"):
            for obj in list(vars(module).values()):
                if isinstance(obj, Dispatcher):
                    obj.enable_caching()
    return umap


class _EpochReporter:
    """A file for umap's tqdm bar (``bar_format='{n}/{total}'``) that turns what it writes into progress."""

    def __init__(self, progress: Progress):
        self.progress = progress

    def write(self, text: str) -> None:
        found = re.findall(r"(\d+)/(\d+)", text)
        if found:
            done, total = (int(v) for v in found[-1])
            self.progress(done / max(total, 1), f"UMAP: layout epoch {done} of {total}")

    def flush(self) -> None:
        pass


def _fit_umap(x: np.ndarray, seed: int | None, progress: Progress, threads: int | None, epochs: int | None = None):
    """The fitted reducer and its map of ``x`` (``epochs``: umap-learn's default, 500 up to 10,000 codes)."""
    progress(-1.0, "UMAP: loading (the first run ever compiles, about a minute)")
    umap = _import_umap()
    if threads:
        import numba
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    progress(-1.0, "UMAP: finding neighbours")
    reducer = umap.UMAP(n_neighbors=min(15, len(x) - 1), min_dist=0.1, random_state=seed, n_epochs=epochs,
                        n_jobs=1 if seed is not None else -1,
                        tqdm_kwds={"disable": False, "file": _EpochReporter(progress), "bar_format": "{n}/{total}",
                                   "mininterval": 0.2})
    return reducer, reducer.fit_transform(x)


def _fit_tsne(x: np.ndarray, seed: int | None, progress: Progress, _threads: int | None = None, _epochs=None):
    """The fitted t-SNE and its map of ``x``."""
    from sklearn.manifold import TSNE
    progress(-1.0, "t-SNE: running")
    tsne = TSNE(2, perplexity=min(30.0, (len(x) - 1) / 3), init="pca", learning_rate="auto", random_state=seed)
    return tsne, tsne.fit_transform(x)


# --- the worker process -----------------------------------------------------------------------
def _serve(conn) -> None:
    """The worker process: fit each (method, x, seed) it receives; send progress, then the result.
    It runs at a lower priority on every core but one (as ``core.train.device.training_threads``), so that
    the app's UI stays responsive; OpenMP threads spinning on an oversubscribed machine are very slow."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a cancel: exit cleanly (temporary files, semaphores)
    try:
        os.nice(5)  # the app's UI comes first
    except (AttributeError, OSError):
        pass
    threads = max(1, (os.cpu_count() or 2) - 1)
    while True:
        try:
            method, x, seed = conn.recv()
        except (EOFError, OSError):
            return
        try:
            result = ("done", _fit(method, x, seed, lambda f, text: conn.send(("progress", f, text)), threads))
        except LatentExplorerError as exc:
            result = ("error", str(exc), "")
        except Exception as exc:
            result = ("error", f"{type(exc).__name__}: {exc}", traceback.format_exc())
        conn.send(result)


class _Worker:
    def __init__(self):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child,), name="latent-explorer-projection", daemon=True)
        self.process.start()
        child.close()

    def stop(self) -> None:
        """End the process: politely, then for sure (compiled code may not see the signal for a while)."""
        self.process.terminate()
        self.process.join(STOP_GRACE_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()


_worker: _Worker | None = None
_worker_lock = threading.Lock()


@atexit.register
def _stop_worker() -> None:
    """End the worker before multiprocessing's own exit hook does: that one only sends SIGTERM and waits,
    and a SIGTERM delivered to one of the worker's other threads leaves its main thread blocked in recv."""
    if _worker is not None:
        _worker.stop()


class ProjectionFailed(LatentExplorerError):
    """UMAP or t-SNE raised in the worker process; ``details`` has its traceback."""

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.details = details


def _fit_in_worker(method: str, x: np.ndarray, seed: int | None, progress: Progress,
                   cancel: threading.Event | None) -> np.ndarray:
    global _worker
    while not _worker_lock.acquire(timeout=POLL_S):  # another projection is running: wait, still cancellable
        _raise_if_cancelled(cancel)
    try:
        if _worker is None or not _worker.process.is_alive():
            _worker = _Worker()
        worker = _worker
        try:
            worker.conn.send((method, x, seed))
            while True:
                _raise_if_cancelled(cancel)
                if worker.conn.poll(POLL_S):
                    message = worker.conn.recv()
                    if message[0] == "progress":
                        progress(message[1], message[2])
                    elif message[0] == "done":
                        return message[1]
                    else:
                        raise ProjectionFailed(f"{METHODS[method]} failed: {message[1]}", message[2])
                elif not worker.process.is_alive():
                    raise LatentExplorerError(f"the {METHODS[method]} process ended unexpectedly (exit code "
                                              f"{worker.process.exitcode}); try again, or choose PCA")
        except ProjectionFailed:
            raise  # the worker itself is fine
        except (EOFError, OSError) as exc:  # the pipe broke: the process is gone
            worker.stop()
            _worker = None
            raise LatentExplorerError(f"the {METHODS[method]} process ended unexpectedly ({type(exc).__name__}); "
                                      "try again, or choose PCA") from exc
        except BaseException:  # cancelled, died, or interrupted mid-task: its state is unknown, end it
            worker.stop()
            _worker = None
            raise
    finally:
        _worker_lock.release()
