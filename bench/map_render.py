"""The embedding map at scale: for each size N, a map of N items (50 clusters, 10 classes, MNIST's real
28x28 digits repeated) in ``gui.map_view.MapView``, measured in a fresh process each:

- ``shown_s``: coordinates ready -> the map drawn (``set_map`` and the first paint);
- frame times while panning and zooming with the whole map in view (density), at a middle zoom
  (about 20,000 points in view: dots) and zoomed in to the images; a frame is one view change and one
  pass of the event loop, in which the level of detail updates and the view paints;
- ``sharp_ms``: the density image of a rested view zoomed past the pyramid's finest level;
- hover (a mouse move over the map -> the point under it labelled) and click (-> ``point_clicked``);
- a lasso around about 100,000 points (the points inside found and shown as selected);
- wheel notches (120 units each) from the whole map until images show, over the centre and the densest spot;
- ``peak_rss_gb``: the process's peak resident memory, images included.

``--project N`` also times the projections of N synthetic 16-d codes (PCA; UMAP fitted on a sample and
placing the rest, the app's way: in the worker process) and the resident memory after a second UMAP, and
encoding 20,000 images with the default VAE (streamed in batches).

    python bench/map_render.py [--points 70000 300000 1000000] [--frames 120] [--size 1200x800] [--project N]

Goals (issue 19): p95 frame <= 16 ms, shown <= 2 s, hover and click <= 16 ms, lasso over 100 k points
<= 50 ms, peak memory <= 2 GB at 1 M points, UMAP of 1 M codes <= 3 min. Timings on a shared machine are
rough: the load (``uptime``) is printed with them. Run it with QT_QPA_PLATFORM=xcb under xvfb-run for a
real X window.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DATA = ROOT.parent / "shared" / "data" / "mnist10k.npz"
CLUSTERS = 50
MAX_NOTCHES = 40
SIZES = (70_000, 300_000, 1_000_000)


def timed(fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0


class Clock:
    """Wall and CPU milliseconds of the laps it times (CPU time is what a loaded machine distorts least)."""

    def __init__(self):
        self.wall, self.cpu = [], []

    def __enter__(self):
        self._t = (time.perf_counter(), time.thread_time())
        return self

    def __exit__(self, *exc):
        self.wall.append((time.perf_counter() - self._t[0]) * 1000)
        self.cpu.append((time.thread_time() - self._t[1]) * 1000)

    def summary(self) -> dict:
        return {**summary(self.wall), "cpu_median_ms": round(statistics.median(self.cpu), 2),
                "cpu_p95_ms": round(float(np.percentile(self.cpu, 95)), 2)}


def summary(times: list[float]) -> dict:
    return {"median_ms": round(statistics.median(times), 2), "p95_ms": round(float(np.percentile(times, 95)), 2),
            "max_ms": round(max(times), 1)}


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def rss_gb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_rss_gb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30


def load() -> float:
    return os.getloadavg()[0]


def synthetic_map(n: int, seed: int = 0):
    """Coordinates of ``n`` items in ``CLUSTERS`` clusters of uneven size and spread, labels (10 classes)
    and uint8 (n, 1, 28, 28) images (MNIST's, repeated; random noise without the data file)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-40, 40, (CLUSTERS, 2))
    cluster = rng.choice(CLUSTERS, n, p=rng.dirichlet(np.full(CLUSTERS, 2.0)))
    coords = (centres[cluster] + rng.normal(size=(n, 2)) * rng.uniform(0.8, 3.0, CLUSTERS)[cluster, None])
    labels = cluster % 10
    if DATA.is_file():
        with np.load(DATA) as z:
            digits = z["images"]
        images = np.empty((n, 1, 28, 28), np.uint8)
        for start in range(0, n, len(digits)):
            images[start:start + len(digits), 0] = digits[:n - start]
    else:
        images = rng.integers(0, 256, (n, 1, 28, 28), np.uint8)
    return coords.astype(np.float32), labels, images


def pan_zoom_steps(view, centre, half, frames, zoom=0.5):
    """Pans in a circle and zooms in and out (by up to ``zoom``) around ``centre`` at half-width ``half``."""
    steps = []
    for k in range(frames):
        angle = 2 * np.pi * k / 40
        scale = half * (1 + zoom * np.sin(2 * np.pi * k / 30))
        x, y = centre[0] + 0.6 * half * np.cos(angle), centre[1] + 0.6 * half * np.sin(angle)
        steps.append(lambda x=x, y=y, s=scale: view.viewbox.setRange(xRange=(x - s, x + s), yRange=(y - s, y + s),
                                                                     padding=0))
    return steps


def frame_times(app, view, steps) -> dict:
    """Per frame: one view change, then one pass of the event loop (level of detail, paint)."""
    from PySide6.QtCore import QEvent, QObject

    class PaintCounter(QObject):
        paints = 0

        def eventFilter(self, _obj, event) -> bool:
            if event.type() == QEvent.Type.Paint:
                self.paints += 1
            return False

    counter = PaintCounter()
    view.viewport().installEventFilter(counter)
    clock, shown, dots = Clock(), [], []
    for step in steps:
        with clock:
            step()
            app.processEvents()
        shown.append(len(view.thumbnails.shown))
        dots.append(view.dots.isVisible())
    view.viewport().removeEventFilter(counter)
    return {**clock.summary(), "paints": counter.paints, "median_images": int(np.median(shown)),
            "dot_frames": int(np.sum(dots))}


def notches_to_images(app, view, at) -> int | None:
    """Wheel notches over viewport position ``at``, from the whole map, until images show (None: never)."""
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    view.fit()
    app.processEvents()
    port = view.viewport()
    for notch in range(1, MAX_NOTCHES + 1):
        app.sendEvent(port, QWheelEvent(QPointF(at), QPointF(port.mapToGlobal(at)), QPoint(0, 0), QPoint(0, 120),
                                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                                        Qt.ScrollPhase.NoScrollPhase, False))
        for _ in range(3):
            app.processEvents()
        if view.thumbnails.shown:
            return notch
    return None


def run_one(n: int, frames: int, size: str) -> dict:
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent

    from gui.app import make_application
    from gui.map_view import DOTS_MAX, MapView

    width, height = (int(v) for v in size.split("x"))
    coords, labels, images = synthetic_map(n)
    app = make_application()
    view = MapView()
    view.resize(width, height)
    view.show()
    app.processEvents()
    base_rss = rss_gb()

    def shown():
        view.set_map(coords, images, labels, [str(i) for i in range(10)], thumbnail_size=36)
        view.viewport().repaint()
        app.processEvents()
    cpu = time.thread_time()
    _, shown_s = timed(shown)
    result_cpu = time.thread_time() - cpu
    full = view.viewbox.viewRect()
    centre = np.array([full.center().x(), full.center().y()])
    result = {"points": n, "size": size, "load": round(load(), 2), "shown_s": round(shown_s, 2),
              "shown_cpu_s": round(result_cpu, 2)}
    result["whole_map"] = frame_times(app, view, pan_zoom_steps(view, centre, full.width() / 2, frames))

    counts, xs, ys = np.histogram2d(coords[:, 0], coords[:, 1], bins=200)
    bx, by = np.unravel_index(np.argmax(counts), counts.shape)
    densest = int(np.argmin(np.linalg.norm(coords - [(xs[bx] + xs[bx + 1]) / 2, (ys[by] + ys[by + 1]) / 2], axis=1)))
    dense = coords[densest]
    view.zoom_to(densest, DOTS_MAX // 2)
    app.processEvents()
    middle = view.viewbox.viewRect()
    result["middle_zoom"] = frame_times(app, view, pan_zoom_steps(view, dense, middle.height() / 2, frames, 0.3))
    result["middle_zoom"]["points_in_view"] = int(view.grid.count_in(view._view_rect()))

    view.zoom_to(densest, 200_000)
    app.processEvents()
    cpu = time.thread_time()
    _, sharp_s = timed(view._draw_sharp)
    result["sharp_ms"], result["sharp_cpu_ms"] = round(sharp_s * 1000, 1), round((time.thread_time() - cpu) * 1000, 1)
    result["sharp_points"] = int(view.grid.count_in(view._view_rect()))

    port = view.viewport()
    view.fit()
    app.processEvents()
    at_dense = view.mapFromScene(view.viewbox.mapViewToScene(QPointF(*dense)))  # (on the whole map)
    result["notches_to_images"] = {
        "centre": notches_to_images(app, view, QPointF(port.width() / 2, port.height() / 2)),
        "densest": notches_to_images(app, view, at_dense)}
    view.zoom_to(densest, 100)
    app.processEvents()
    zoomed = view.viewbox.viewRect()
    result["zoomed_in"] = frame_times(app, view, pan_zoom_steps(view, dense, zoomed.height() / 2, frames, 0.3))

    port = view.viewport()
    rng = np.random.default_rng(1)

    def mouse(kind, pos, button, buttons):
        app.sendEvent(port, QMouseEvent(kind, QPointF(pos), QPointF(port.mapToGlobal(pos)), button, buttons,
                                        Qt.KeyboardModifier.NoModifier))

    clicked = []
    view.point_clicked.connect(clicked.append)
    for where in ("whole_map", "zoomed_in"):
        if where == "whole_map":
            view.fit()
            app.processEvents()
        hover, click, found = Clock(), Clock(), 0
        for k in range(100):
            # points on the map: positions of random items, as a user aims at something
            item = int(rng.integers(n))
            pos = view.mapFromScene(view.viewbox.mapViewToScene(QPointF(*coords[item])))
            if where == "zoomed_in":
                view.zoom_to(item, 100)
                app.processEvents()
                pos = view.mapFromScene(view.viewbox.mapViewToScene(QPointF(*coords[item])))
            with hover:
                mouse(QEvent.Type.MouseMove, pos, Qt.MouseButton.NoButton, Qt.MouseButton.NoButton)
                app.processEvents()
            found += view.hover_index >= 0
            before = len(clicked)
            with click:
                mouse(QEvent.Type.MouseButtonPress, pos, Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton)
                mouse(QEvent.Type.MouseButtonRelease, pos, Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton)
                app.processEvents()
            found += len(clicked) > before
        result[f"hover_{where}"] = hover.summary()
        result[f"click_{where}"] = click.summary()
        result[f"found_{where}"] = found

    # a lasso: a 64-gon around the densest spot, grown until about 100,000 points are inside
    view.fit()
    app.processEvents()
    angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    radius = np.sort(np.linalg.norm(coords - dense, axis=1))[min(100_000, n) - 1] * 1.02
    polygon = dense + radius * np.column_stack([np.cos(angles), np.sin(angles)])
    selected = []
    view.selection_drawn.connect(lambda idx, _add: (selected.append(idx), view.set_selection(idx)))
    lasso = Clock()
    for _ in range(5):
        with lasso:
            view._polygon_drawn(polygon, Qt.KeyboardModifier.NoModifier)
            app.processEvents()
    result["lasso"] = {**lasso.summary(), "points": int(len(selected[-1]))}
    result["rss_gb"] = round(rss_gb(), 2)
    result["map_rss_gb"] = round(rss_gb() - base_rss, 2)
    result["peak_rss_gb"] = round(peak_rss_gb(), 2)
    view.close()
    return result


def run_projection(n: int) -> dict:
    """PCA and UMAP of ``n`` synthetic 16-d codes, memory after a second UMAP, encoding 20,000 images."""
    import torch
    torch.set_num_threads(1)
    from core.image.data import ImageData
    from core.image.embedding import encode_dataset
    from core.image.projection import project
    from models import build_model

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(CLUSTERS, 16)) * 3
    codes = (centres[rng.integers(0, CLUSTERS, n)] + rng.normal(size=(n, 16))).astype(np.float32)
    out = {"codes": n, "load": round(load(), 2)}
    t0 = time.process_time()
    _, pca_s = timed(project, codes, "pca")
    out["pca_s"], out["pca_cpu_s"] = round(pca_s, 2), round(time.process_time() - t0, 2)
    import core.image.projection as projection
    steps = []
    _, umap_s = timed(project, codes, "umap", progress=lambda f, text: steps.append(text))
    worker = projection._worker.process.pid
    out["umap_s"], out["umap_cpu_s"] = round(umap_s, 1), round(process_cpu_s(worker), 1)
    out["umap_progress_reports"] = len(steps)
    rss_after_one, worker_rss = rss_gb(), process_rss_gb(worker)
    _, umap2_s = timed(project, codes, "umap")
    out["umap_again_s"] = round(umap2_s, 1)
    out["umap_again_cpu_s"] = round(process_cpu_s(worker) - out["umap_cpu_s"], 1)
    out["rss_growth_second_umap_gb"] = round(rss_gb() - rss_after_one, 3)
    out["worker_rss_growth_second_umap_gb"] = round(process_rss_gb(worker) - worker_rss, 3)
    out["load_after"] = round(load(), 2)
    with np.load(DATA) as z:
        digits = z["images"][:, None]
    images = np.concatenate([digits, digits])
    model = build_model("vae", {"image_shape": [1, 28, 28], "mean": [0.13], "std": [0.31]}).eval()
    reports = []
    _, encode_s = timed(encode_dataset, model, ImageData("bench", torch.from_numpy(images)),
                        progress=lambda f, text: reports.append(f))
    out["encode_20k_s"], out["encode_progress_reports"] = round(encode_s, 1), len(reports)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="*", default=list(SIZES), help="map sizes (none: no maps)")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--size", default="1200x800")
    parser.add_argument("--project", type=int, default=0, metavar="N", help="also time projections of N codes")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.points[0], args.frames, args.size)))
        return 0
    results = []
    for n in args.points:  # each size in a process of its own: its own peak memory
        done = subprocess.run([sys.executable, __file__, "--one", "--points", str(n), "--frames", str(args.frames),
                               "--size", args.size], capture_output=True, text=True, check=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(r)
        def p95(key):
            return f"{r[key]['p95_ms']} ({r[key]['cpu_p95_ms']} CPU)"
        print(f"{n:>9,} points (load {r['load']}): shown in {r['shown_s']} s ({r['shown_cpu_s']} s CPU); frame p95 "
              f"ms, wall (CPU): whole map {p95('whole_map')}, middle zoom {p95('middle_zoom')} "
              f"({r['middle_zoom']['points_in_view']:,} in view), zoomed in {p95('zoomed_in')} "
              f"({r['zoomed_in']['median_images']} images); rested view's own density {r['sharp_ms']} ms; "
              f"hover p95 {p95('hover_whole_map')}/{p95('hover_zoomed_in')} ms, click p95 "
              f"{p95('click_whole_map')}/{p95('click_zoomed_in')} ms (whole/zoomed); lasso over "
              f"{r['lasso']['points']:,} points {r['lasso']['median_ms']} ms ({r['lasso']['cpu_median_ms']} CPU); "
              f"peak memory {r['peak_rss_gb']} GB; wheel notches to images {r['notches_to_images']['centre']} "
              f"(centre), {r['notches_to_images']['densest']} (densest)", flush=True)
    out = {"maps": results}
    if args.project:
        p = run_projection(args.project)
        print(f"{p['codes']:,} codes (load {p['load']} to {p['load_after']}): PCA {p['pca_s']} s, UMAP {p['umap_s']} s "
              f"({p['umap_cpu_s']} s CPU; again {p['umap_again_s']} s, memory growth {p['rss_growth_second_umap_gb']} "
              f"GB here, {p['worker_rss_growth_second_umap_gb']} GB in the worker); encoding 20,000 images "
              f"{p['encode_20k_s']} s")
        out["projection"] = p
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
