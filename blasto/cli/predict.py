"""``python -m blasto predict``: the Review page's headless twin.

Predicts every frame of the chosen pools (cached per model and pool, like the page), then writes
to ``--out``::

    areas.csv                 pool, frame, time, area in every unit, model, threshold, post-processing,
                              and each frame's collapse (number, 0 outside) and event (start/bottom/recovery)
    events.csv                one row per collapse (blasto.review.events), summary.csv one row per pool
    masks/pool01/frame0000.png   the measured mask of every frame, lab PNG (black = cell)
      (or masks/pool01.tif with --masks tiff: one stack per pool, black = cell;
       or masks/pool01.ome.tif with --masks ome-tiff: OME-TIFF TYX, 255 = cell, pixel size
       and frame interval in its metadata, for Fiji and napari)
    overlay/pool01.mp4        the pool movie with the mask outlined (H.264, plays in browsers)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


from blasto.cli.crop import progress_bar
from blasto.masks import THRESHOLD, encode_lab_mask
from blasto.model.files import model_id, resolve_model
from blasto.model.inference import PRECISIONS
from blasto.review.events import EventSettings
from blasto.review.areas import KEEP_CHOICES, PostProcessing
from blasto.review.exports import pool_pixel_size_um, write_ome_masks
from blasto.review.predictions import predict_pools
from blasto.store import atomic
from blasto.store.experiment import open_experiment

HELP = "Predict masks for an experiment's pools; write areas CSV, masks and overlay movies."


def add_measure_arguments(parser):
    """The options ``predict``, ``events`` and ``report`` share: experiment, model, pools,
    post-processing, collapse definition, precision."""
    parser.add_argument("--experiment", required=True, metavar="NAME", help="experiment (under data/)")
    parser.add_argument("--model", required=True, metavar="PATH",
                        help="model: a run/model folder, a .keras file, or a folder name under models/ (e.g. demo)")
    parser.add_argument("--pools", type=int, nargs="+", metavar="N", help="pools to predict (default: all)")
    add_post_arguments(parser)
    parser.add_argument("--drop", type=float, default=EventSettings.drop_percent, metavar="PCT",
                        help=f"collapse: area drop from the running peak, in %% (default {EventSettings.drop_percent:g}: "
                             "half the volume of a sphere)")
    parser.add_argument("--within", type=float, default=EventSettings.within_minutes, metavar="MIN",
                        help=f"collapse: the drop happens within this many minutes (default {EventSettings.within_minutes:g})")
    parser.add_argument("--recover", type=float, default=EventSettings.recover_fraction, metavar="FRACTION",
                        help="recovered when back to this fraction of the pre-collapse peak "
                             f"(default {EventSettings.recover_fraction:g})")
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="network precision (default auto: the faster of float32 and bfloat16 on this machine)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="frames per network call (default 8 in bfloat16, 4 in float32)")
    parser.add_argument("--overwrite", action="store_true", help="predict again even if cached")


def settings_from(args) -> EventSettings:
    return EventSettings(drop_percent=args.drop, within_minutes=args.within, recover_fraction=args.recover)


def post_from(args) -> PostProcessing:
    return PostProcessing(threshold=args.threshold, fill_holes=args.fill_holes, keep=args.keep,
                          min_size=args.min_size)


def add_arguments(parser):
    add_measure_arguments(parser)
    parser.add_argument("--masks", choices=("png", "tiff", "ome-tiff", "none"), default="png",
                        help="write masks as PNG per frame, a TIFF stack per pool (black = cell), "
                             "an OME-TIFF per pool (255 = cell, with pixel size), or not at all")
    parser.add_argument("--no-movie", action="store_true", help="do not write overlay MP4s")
    parser.add_argument("--fps", type=float, default=8.0, help="overlay movie frame rate (default 8)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the results")


def add_post_arguments(parser):
    parser.add_argument("--threshold", type=float, default=THRESHOLD,
                        help=f"P(cell) threshold (default {THRESHOLD})")
    parser.add_argument("--fill-holes", action=argparse.BooleanOptionalAction, default=True,
                        help="fill holes inside objects (default: yes, the lab's hole-filled area)")
    parser.add_argument("--keep", choices=KEEP_CHOICES, default=PostProcessing.keep,
                        help=f"objects to keep in each frame (default {PostProcessing.keep})")
    parser.add_argument("--min-size", type=int, default=PostProcessing.min_size, metavar="PX",
                        help=f"drop objects smaller than this many pool pixels (default {PostProcessing.min_size})")


def run(args) -> int:
    from blasto.review.areas import masks_of_pools, pixel_areas, area_table, best_unit
    from blasto.review.charts import export_areas
    from blasto.review.events import events_table, frame_columns, pool_events, summary_table
    from blasto.review.overlay import overlay_movie, write_mp4

    experiment = open_experiment(args.experiment)
    post = post_from(args)
    settings = settings_from(args)
    model = resolve_model(args.model)
    name = model_id(model)
    out = Path(args.out)
    print(f"{experiment.name}: model {name}, {post.describe()}")

    bar = progress_bar("predicting")
    probabilities = predict_pools(experiment, model_path=model, pools=args.pools,
                                  progress=lambda done, total, pool: bar(done, total),
                                  overwrite=args.overwrite, batch_size=args.batch_size, precision=args.precision)
    all_masks = masks_of_pools(probabilities, post=post)
    tables, events = [], []
    # Collapse events are defined in time (a drop within so many minutes): without a frame
    # interval there are none to find, but the areas and masks are still worth writing.
    timed = bool(experiment.manifest.frame_interval_s)
    if not timed:
        print(f"{experiment.path / 'manifest.json'}: no frame interval, so no collapse events "
              "(areas and masks only)")
    write_bar = progress_bar("writing   ")
    for index, (pool, masks) in enumerate(all_masks.items(), start=1):
        table = area_table(experiment, pool, pixel_areas(masks))
        if timed:
            found = pool_events(experiment, pool, masks, settings=settings, unit=best_unit(table))
            columns = frame_columns(found, len(table))
            table["collapse"], table["event"] = columns["collapse"].to_numpy(), columns["event"].to_numpy()
            events.append(found)
        tables.append(table)
        if args.masks == "png":
            for frame, mask in enumerate(masks):
                atomic.write_png(out / "masks" / f"pool{pool:02d}" / f"frame{frame:04d}.png", encode_lab_mask(mask))
        elif args.masks == "tiff":
            atomic.write_tiff(out / "masks" / f"pool{pool:02d}.tif", encode_lab_mask(masks))
        elif args.masks == "ome-tiff":
            write_ome_masks(out / "masks" / f"pool{pool:02d}.ome.tif", masks,
                            pixel_size_um=pool_pixel_size_um(experiment.manifest, pool),
                            frame_interval_s=experiment.manifest.frame_interval_s)
        if not args.no_movie:
            movie = overlay_movie(experiment.read_pool_movie(pool), masks, style="outline", scale=2)
            write_mp4(out / "overlay" / f"pool{pool:02d}.mp4", movie, fps=args.fps)
        write_bar(index, len(all_masks))
    csv = out / "areas.csv"
    atomic.write_text(csv, export_areas(tables, model=name, post=post).to_csv(index=False))
    if timed:
        atomic.write_text(out / "events.csv", events_table(events).to_csv(index=False))
        atomic.write_text(out / "summary.csv", summary_table(events).to_csv(index=False))
    found_text = (f", {out / 'events.csv'} ({sum(e.n_collapses for e in events)} collapses; {settings.describe()})"
                  if timed else "")
    print(f"wrote {csv}{found_text}"
          + ("" if args.masks == "none" else f", masks in {out / 'masks'}")
          + ("" if args.no_movie else f", overlay movies in {out / 'overlay'}"))
    sys.stdout.flush()
    return 0
