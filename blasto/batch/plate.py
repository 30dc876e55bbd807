"""One plate of a batch: crop, clean, predict, measure, write its outputs. Runs on a Dask worker.

The same functions as ``crop``, ``clean`` and ``predict`` on the command line
(:func:`blasto.prepare.grid.suggest_grid`, :func:`blasto.prepare.crop.crop_plate`,
:func:`blasto.prepare.clean.clean_experiment`, :func:`blasto.review.predictions.predict_pools`,
:func:`blasto.review.charts.pool_results` and :func:`~blasto.review.charts.export_areas`), so a
plate's ``areas.csv`` is the one ``predict`` writes for the same experiment. Outputs::

    OUT/experiments/<plate>/        the cropped, cleaned experiment with its prediction cache
                                    (open it in the app: BLASTO_DATA=OUT/experiments)
    OUT/plates/<plate>/areas.csv    as python -m blasto predict writes it
    OUT/plates/<plate>/masks/pool01.ome.tif   measured masks, OME-TIFF TYX, 255 = cell
    OUT/plates/<plate>/events.csv, summary.csv   collapses and expansion (blasto.review.events)
    OUT/plates/<plate>/prepared.json   the crop's key: a rerun crops again only if it changed
    OUT/plates/<plate>/plate.json      written last: the work key, what was done, how long

Resuming is at three levels: a finished plate is skipped (:mod:`blasto.batch.resume`), a
cropped one is not cropped again, and each pool's predictions are cached by ``predict_pools``.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from blasto.batch.inputs import PlateMovie
from blasto.batch.resume import content_hash, recorded_key, work_key
from blasto.model.files import model_file, model_id
from blasto.model.inference import DEFAULT_BATCH_SIZE
from blasto.prepare.clean import DEFAULT_TOLERANCE
from blasto.review import events
from blasto.review.areas import PostProcessing, best_unit
from blasto.store import atomic

#: What a plate's progress reports, in order.
STAGES = ("hashing", "cropping", "cleaning", "predicting", "measuring", "done")


@dataclass(frozen=True)
class PlateSettings:
    """Everything that changes a plate's results (part of its work key), and the batch size.

    grid: ``"auto"`` (suggested from the first frame) or ``"top,left,bottom,right"`` in source
    pixels, as ``crop --grid`` takes it.
    """

    model: str
    grid: str = "auto"
    rows: int = 4
    cols: int = 4
    size: int = 256
    tolerance: float = DEFAULT_TOLERANCE
    post: PostProcessing = field(default_factory=PostProcessing)
    batch_size: int = DEFAULT_BATCH_SIZE

    def prepare_parts(self) -> dict:
        return {"grid": self.grid, "rows": self.rows, "cols": self.cols, "size": self.size,
                "tolerance": float(self.tolerance)}


@dataclass(frozen=True)
class PlateProgress:
    """One step of one plate: ``stage`` (see :data:`STAGES`), ``done`` of ``total`` units."""

    plate: str
    stage: str
    done: int = 0
    total: int = 0


@dataclass(frozen=True)
class PlateResult:
    """How one plate went: status ``done``, ``skipped`` (already done) or ``failed`` (``error``)."""

    name: str
    movie: str
    status: str
    error: str | None = None
    pools: int = 0
    frames: int = 0          # frames of each pool movie
    predicted: int = 0       # pool frames that went through the network in this run
    seconds: float = 0.0

    def describe(self) -> str:
        if self.status == "failed":
            return f"{self.name}: FAILED ({self.movie}): {self.error}"
        what = "already done, skipped" if self.status == "skipped" else f"done in {self.seconds:.1f} s"
        return f"{self.name}: {self.pools} pools x {self.frames} frames, {what}"


def plate_dir(out, name: str) -> Path:
    return Path(out) / "plates" / name


def experiments_root(out) -> Path:
    return Path(out) / "experiments"


# One loaded model per worker thread: loading costs seconds, and a Predictor's traced
# functions are not meant to be shared by threads running at once (processes=False clusters).
_LOCAL = threading.local()


def _predictor(model_path, batch_size: int):
    from blasto.model.inference import Predictor

    file = model_file(model_path)
    key = (str(file.resolve()), file.stat().st_mtime_ns, int(batch_size))
    cache = getattr(_LOCAL, "predictors", None)
    if cache is None or key not in cache:
        _LOCAL.predictors = cache = {key: Predictor.load(file, batch_size=batch_size)}
    return cache[key]


def process_plate(plate: PlateMovie, settings: PlateSettings, out, *, progress=None) -> PlateResult:
    """Do (or skip) one plate's work; raises on a bad movie (the batch reports it by name)."""
    from blasto.review.charts import export_areas, pool_results
    from blasto.review.exports import pool_pixel_size_um, write_ome_masks
    from blasto.review.predictions import cached_pools, predict_pools

    started = time.perf_counter()
    report = progress or (lambda _event: None)
    folder = plate_dir(out, plate.name)

    report(PlateProgress(plate.name, "hashing"))
    movie_hash = content_hash(plate.movie)
    model = model_file(settings.model)
    key = work_key(movie=movie_hash, model=content_hash(model), **settings.prepare_parts(),
                   post=settings.post.as_dict())
    done_file = folder / "plate.json"
    if recorded_key(done_file) == key and (folder / "areas.csv").exists():
        info = _read_json(done_file)
        report(PlateProgress(plate.name, "done", 1, 1))
        return PlateResult(plate.name, plate.movie, "skipped", pools=info.get("pools", 0),
                           frames=info.get("frames", 0))

    experiment = _prepared_experiment(plate, settings, out, movie_hash=movie_hash, report=report)
    pools = experiment.pool_numbers
    frames = experiment.n_frames()
    to_predict = len(pools) - len(cached_pools(experiment, settings.model))
    predictor = _predictor(settings.model, settings.batch_size) if to_predict else None
    probabilities = predict_pools(
        experiment, model_path=settings.model, predictor=predictor, batch_size=settings.batch_size,
        progress=lambda done, total, _pool: report(PlateProgress(plate.name, "predicting", done, total)))

    # The same measurements and events as `blasto predict` writes for one experiment.
    tables, pool_events = [], []
    interval = experiment.manifest.frame_interval_s
    for index, (pool, probs) in enumerate(probabilities.items(), start=1):
        masks, table = pool_results(experiment, pool, probs, post=settings.post)
        if interval:  # collapses are defined in time: none without a frame interval
            found = events.pool_events(experiment, pool, masks, unit=best_unit(table))
            columns = events.frame_columns(found, len(table))
            table["collapse"], table["event"] = columns["collapse"].to_numpy(), columns["event"].to_numpy()
            pool_events.append(found)
        tables.append(table)
        write_ome_masks(folder / "masks" / f"pool{pool:02d}.ome.tif", masks,
                        pixel_size_um=pool_pixel_size_um(experiment.manifest, pool),
                        frame_interval_s=interval)
        report(PlateProgress(plate.name, "measuring", index, len(probabilities)))
    if pool_events:
        atomic.write_text(folder / "events.csv", events.events_table(pool_events).to_csv(index=False))
        atomic.write_text(folder / "summary.csv", events.summary_table(pool_events).to_csv(index=False))
    areas = export_areas(tables, model=model_id(settings.model), post=settings.post)
    atomic.write_text(folder / "areas.csv", areas.to_csv(index=False))
    seconds = time.perf_counter() - started
    atomic.write_json(done_file, {
        "key": key, "plate": plate.name, "movie": str(plate.movie), "movie_hash": movie_hash,
        "model": str(model), "model_id": model_id(settings.model), "pools": len(pools), "frames": frames,
        "grid": experiment.manifest.grid.to_dict() if experiment.manifest.grid else None,
        "settings": {**settings.prepare_parts(), "post": settings.post.as_dict()},
        "collapses": sum(e.n_collapses for e in pool_events), "seconds": round(seconds, 2),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    report(PlateProgress(plate.name, "done", 1, 1))
    return PlateResult(plate.name, plate.movie, "done", pools=len(pools), frames=frames,
                       predicted=to_predict * frames, seconds=seconds)


def _prepared_experiment(plate: PlateMovie, settings: PlateSettings, out, *, movie_hash, report):
    """The plate's cropped and cleaned experiment: kept from an earlier run if its key matches."""
    from blasto.movies import open_movie
    from blasto.prepare.clean import clean_experiment
    from blasto.prepare.crop import crop_plate
    from blasto.prepare.grid import parse_grid, suggest_grid
    from blasto.store.experiment import create_experiment, list_experiments, open_experiment

    root = experiments_root(out)
    marker = plate_dir(out, plate.name) / "prepared.json"
    key = work_key(movie=movie_hash, **settings.prepare_parts())
    if recorded_key(marker) == key and plate.name in list_experiments(root=root):
        experiment = open_experiment(plate.name, root=root)
        if experiment.manifest.background.cleaned:
            return experiment

    def step(stage):
        return lambda done, total: report(PlateProgress(plate.name, stage, done, total))

    with open_movie(plate.movie) as movie:
        if settings.grid == "auto":
            grid = suggest_grid(movie.frame(0), rows=settings.rows, cols=settings.cols)
        else:
            grid = parse_grid(settings.grid, rows=settings.rows, cols=settings.cols)
        grid.check(height=movie.height, width=movie.width, source=str(movie.path))
        experiment = create_experiment(plate.name, root=root, exist_ok=True)
        # overwrite: a batch's experiments hold no hand masks, and a changed movie or grid must
        # replace the old crop (crop_plate then drops its stale predictions).
        crop_plate(movie, experiment, grid=grid, size=settings.size, progress=step("cropping"), overwrite=True)
    clean_experiment(experiment, tolerance=settings.tolerance, progress=step("cleaning"))
    atomic.write_json(marker, {"key": key, "movie": str(plate.movie), "grid": grid.to_dict()})
    return experiment


def _read_json(path) -> dict:
    import json

    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def settings_dict(settings: PlateSettings) -> dict:
    """The settings as plain JSON (for batch.json)."""
    return dataclasses.asdict(settings)
