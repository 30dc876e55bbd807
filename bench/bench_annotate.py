"""How fast a stroke becomes a mask, and how fast the lab's folders import and export.

Usage::

    .venv/bin/python bench/bench_annotate.py            # 256 px frames
    .venv/bin/python bench/bench_annotate.py --pairs 400

Prints, per drawing tool, the time to rasterise one typical stroke (a free-hand outline of a
cell traced with ~300 mouse points, a brush stroke, a polygon), the time to rebuild a frame's
mask from 20 strokes, the time to send the mask to the drawing surface after a stroke, and the time to export and re-import ``--pairs``
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


def outline(n_points=300, *, centre=(128, 128), radius=45, seed=0):
    """A wobbly closed outline as a hand traces it: (x, y) image pixels."""
    rng = np.random.default_rng(seed)
    theta = np.linspace(0, 2 * np.pi, n_points)
    r = radius * (1 + 0.08 * np.sin(3 * theta) + 0.01 * rng.standard_normal(n_points))
    return tuple(zip((centre[0] + r * np.cos(theta)).tolist(), (centre[1] + r * np.sin(theta)).tolist()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="pool frame size (pixels)")
    parser.add_argument("--pairs", type=int, default=160, help="annotated frames to export")
    args = parser.parse_args(argv)

    from blasto.annotate import edit, labdata, labexport, strokes
    from blasto.app.annotate.canvas import png_url
    from blasto.store.experiment import create_experiment
    from blasto.store.manifest import Pool

    size = args.size
    half = size / 2
    base = np.zeros((size, size), bool)
    cell_outline = strokes.Stroke("outline", "add", outline(centre=(half, half), radius=size / 6))
    brush = strokes.Stroke("brush", "erase", outline(80, centre=(half, half), radius=size / 5),
                           size=12)
    corners = ((50, 50), (150, 45), (190, 125), (130, 200), (60, 165))
    polygon = strokes.Stroke("polygon", "add", tuple((x * size / 256, y * size / 256)
                                                     for x, y in corners))
    print(f"frames {size}x{size}")
    for name, stroke in (("outline (300 points)", cell_outline), ("brush 12 px (80 points)", brush),
                         ("polygon (5 corners)", polygon)):
        ms = best_of(lambda: strokes.apply_strokes(base, [stroke]))
        print(f"  rasterise one {name}: {ms:.1f} ms")
    many = [cell_outline, brush, polygon] * 7
    ms = best_of(lambda: strokes.apply_strokes(base, many[:20]))
    print(f"  rebuild a mask from 20 strokes: {ms:.0f} ms")
    mask = strokes.apply_strokes(base, [cell_outline])
    ms = best_of(lambda: png_url(mask))
    print(f"  mask to the drawing surface (PNG data URL): {ms:.1f} ms")
    step = edit.FrameEdit(slot=edit.Slot(pool=1, frame=0), base=base)
    for stroke in many[:19]:
        step.add_stroke(stroke)
    step.mask  # noqa: B018 (the masks of the first 19 are kept)
    step.add_stroke(strokes.Stroke("outline", "add", outline(seed=1, centre=(half, half),
                                                              radius=size / 7)))
    ms = best_of(lambda: step.mask, repeat=1)
    print(f"  the 20th stroke on a frame's edit (incremental): {ms:.1f} ms")

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
