"""How fast a stroke becomes a mask, and how fast the lab's folders import and export.

Usage::

    .venv/bin/python bench/bench_annotate.py            # 256 px frames on a 512 px canvas
    .venv/bin/python bench/bench_annotate.py --pairs 400

Prints, per drawing tool, the time to rasterise one typical stroke (a free-hand outline of a
cell traced with ~300 mouse points, a brush stroke, a polygon), the time to rebuild a frame's
mask from 20 strokes, the time of the canvas background (frame enlarged + mask overlay), which
the Draw step redraws after every stroke, and the time to export and re-import ``--pairs``
annotated frames in the lab's layout. Run it on an idle machine: the figures are CPU-bound.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere


def best_of(function, *, repeat=5) -> float:
    """Best wall time of ``repeat`` calls, in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def outline(n_points=300, *, centre=(256, 256), radius=90, seed=0):
    """A wobbly closed outline as the pencil reports it (quadratic curves)."""
    rng = np.random.default_rng(seed)
    theta = np.linspace(0, 2 * np.pi, n_points)
    r = radius * (1 + 0.08 * np.sin(3 * theta) + 0.01 * rng.standard_normal(n_points))
    points = np.stack([centre[0] + r * np.cos(theta), centre[1] + r * np.sin(theta)], axis=1)
    commands = [["M", *points[0]]] + [["Q", *a, *((a + b) / 2)] for a, b in zip(points[:-1], points[1:])]
    low, high = points.min(axis=0), points.max(axis=0)
    return commands, low, high


def path_object(commands, low, high, *, tool, mode="add", brush_size=24):
    from blasto.annotate.strokes import tool_style

    style = tool_style(tool, mode=mode, brush_size=brush_size)
    return {"type": "Path", "originX": "center", "originY": "center",
            "left": float(low[0] + high[0]) / 2, "top": float(low[1] + high[1]) / 2,
            "width": float(high[0] - low[0]), "height": float(high[1] - low[1]),
            "stroke": style["stroke_color"], "strokeWidth": style["stroke_width"], "path": commands}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="pool frame size (pixels)")
    parser.add_argument("--pairs", type=int, default=160, help="annotated frames to export")
    args = parser.parse_args(argv)

    from blasto.annotate import edit, labdata, labexport, strokes
    from blasto.store.experiment import create_experiment
    from blasto.store.manifest import Pool

    size, canvas = args.size, 2 * args.size
    base = np.zeros((size, size), bool)
    cell_outline = path_object(*outline(centre=(canvas / 2, canvas / 2), radius=canvas / 6),
                               tool="outline")
    brush = path_object(*outline(80, centre=(canvas / 2, canvas / 2), radius=canvas / 5),
                        tool="brush", mode="erase")
    corners = [(100, 100), (300, 90), (380, 250), (260, 400), (120, 330)]
    polygon = {"type": "Polygon", "stroke": "rgb(0, 230, 64)", "strokeWidth": 2,
               "originX": "center", "originY": "center", "left": 240, "top": 245,
               "points": [{"x": x, "y": y} for x, y in corners]}
    print(f"frames {size}x{size} on a {canvas}x{canvas} canvas")
    for name, obj in (("outline (300 points)", cell_outline), ("brush 24 px (80 points)", brush),
                      ("polygon (5 corners)", polygon)):
        ms = best_of(lambda: strokes.apply_objects(base, [obj], canvas_size=(canvas, canvas)))
        print(f"  rasterise one {name}: {ms:.1f} ms")
    many = [cell_outline, brush, polygon] * 7
    ms = best_of(lambda: strokes.apply_objects(base, many[:20], canvas_size=(canvas, canvas)))
    print(f"  rebuild a mask from 20 strokes: {ms:.0f} ms")
    frame = np.random.default_rng(0).integers(0, 256, (size, size), dtype=np.uint8)
    mask = strokes.apply_objects(base, [cell_outline], canvas_size=(canvas, canvas))
    ms = best_of(lambda: edit.overlay(frame, mask, size=canvas))
    print(f"  canvas background (enlarge + overlay): {ms:.1f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        experiment = create_experiment("bench", root=Path(tmp) / "data")
        pools = list(range(1, 17))
        experiment.manifest.size = size
        experiment.manifest.pools = [Pool(p, (0, 0, 1, 1)) for p in pools]
        experiment.save_manifest()
        per_pool = -(-args.pairs // 16)
        rng, count = np.random.default_rng(1), 0
        for pool in pools:
            # Distinct frames everywhere: the import skips pairs it already holds.
            movie = rng.integers(0, 256, (per_pool, size, size), dtype=np.uint8)
            experiment.write_pool_movie(pool, movie, cleaned=True)
            for frame in range(per_pool):
                if count < args.pairs:
                    experiment.write_mask(pool, frame, mask)
                    count += 1
        experiment.set_split(pools[:11], pools[11:])
        start = time.perf_counter()
        labexport.export_lab_folder(experiment, Path(tmp) / "lab")
        export_s = time.perf_counter() - start
        target = create_experiment("again", root=Path(tmp) / "data")
        start = time.perf_counter()
        report = labdata.import_lab_folder(target, Path(tmp) / "lab")
        import_s = time.perf_counter() - start
        print(f"export {count} pairs in the lab's layout: {export_s:.2f} s; "
              f"import them again: {import_s:.2f} s ({report.summary()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
