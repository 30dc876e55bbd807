"""The batch: one Dask task per plate, failures reported by name, the combined tables.

:func:`run_batch` submits :func:`plate_task` for every plate to a Dask client (one task per
plate: a plate is minutes of work, so the scheduler's overhead is nothing, and a plate's pools
share one crop and one loaded model). A plate that fails (a corrupt movie, a grid that does not
fit, a worker that died) comes back as a failed :class:`~blasto.batch.plate.PlateResult` naming
the plate and its movie; the others go on. Then :func:`combine` writes::

    OUT/areas.csv     every finished plate's areas, tidy: one row per plate x pool x frame
    OUT/events.csv    every finished plate's collapses, with a plate column (when events are measured)
    OUT/batch.json    this run: each plate's status, error and time
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from blasto.batch.inputs import PlateMovie
from blasto.batch.plate import PlateResult, PlateSettings, plate_dir, process_plate, settings_dict
from blasto.batch.progress import TOPIC, BatchProgress
from blasto.errors import BlastoError
from blasto.review.exports import tidy_areas, write_tidy_csv
from blasto.store import atomic


@dataclass(frozen=True)
class BatchResult:
    """What a batch did: one result per plate, the combined CSV, the time it took."""

    results: tuple[PlateResult, ...]
    out: Path
    combined: Path | None
    seconds: float

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def failed(self) -> list[PlateResult]:
        return [r for r in self.results if r.status == "failed"]

    def describe(self) -> str:
        frames = sum(r.predicted for r in self.results)
        rate = f", {frames / self.seconds:.2f} pool frames/s" if frames and self.seconds else ""
        return (f"batch: {self.count('done')} done, {self.count('skipped')} skipped, "
                f"{self.count('failed')} failed of {len(self.results)} plates in {self.seconds:.1f} s{rate}")


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, BlastoError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def plate_task(plate: PlateMovie, settings: PlateSettings, out: str) -> PlateResult:
    """The Dask task of one plate: its progress goes to the event log; an error becomes a result."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):  # run outside a worker (a test, a debugger)
        worker = None

    def report(event):
        if worker is not None:
            worker.log_event(TOPIC, dataclasses.asdict(event))

    started = time.perf_counter()
    try:
        return process_plate(plate, settings, out, progress=report)
    except Exception as exc:  # noqa: BLE001 - any failure of one plate must not stop the batch
        return PlateResult(plate.name, plate.movie, "failed", error=_error_text(exc),
                           seconds=time.perf_counter() - started)


def run_batch(plates: list[PlateMovie], settings: PlateSettings, out, *, client,
              progress: BatchProgress | None = None) -> BatchResult:
    """Run every plate on ``client`` (a dask.distributed Client); then :func:`combine`."""
    from distributed import as_completed

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    progress = progress or BatchProgress([p.name for p in plates])
    client.subscribe_topic(TOPIC, progress.event)
    run = uuid.uuid4().hex[:8]
    futures = {client.submit(plate_task, plate, settings, str(out), key=f"blasto-plate-{plate.name}-{run}",
                             pure=False): plate for plate in plates}
    results = {}
    try:
        for future in as_completed(futures):
            plate = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001 - the worker died or the task was lost
                result = PlateResult(plate.name, plate.movie, "failed", error=_error_text(exc))
            results[plate.name] = result
            progress.finished(result)
    finally:
        client.unsubscribe_topic(TOPIC)
    ordered = tuple(results[p.name] for p in plates)
    seconds = time.perf_counter() - started
    combined = combine(out)
    atomic.write_json(out / "batch.json", {
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seconds": round(seconds, 2),
        "settings": settings_dict(settings),
        "plates": [dataclasses.asdict(r) for r in ordered],
    })
    return BatchResult(ordered, out, combined, seconds)


def finished_plates(out) -> list[str]:
    """Names of the plates in ``out`` whose outputs are complete (``plate.json`` written last)."""
    root = Path(out) / "plates"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "plate.json").is_file() and (p / "areas.csv").is_file())


def combine(out) -> Path | None:
    """Write ``OUT/areas.csv`` (and ``events.csv``) from every finished plate; the areas' path."""
    out = Path(out)
    names = finished_plates(out)
    if not names:
        return None
    areas = [tidy_areas(pd.read_csv(plate_dir(out, n) / "areas.csv"), plate=n) for n in names]
    path = out / "areas.csv"
    write_tidy_csv(path, pd.concat(areas, ignore_index=True))
    events = []
    for name in names:
        file = plate_dir(out, name) / "events.csv"
        if file.is_file():
            table = pd.read_csv(file)
            table.insert(0, "plate", name)
            events.append(table)
    if events:
        write_tidy_csv(out / "events.csv", pd.concat(events, ignore_index=True))
    return path


def read_batch(out) -> dict:
    """``OUT/batch.json`` of the last run, or {}."""
    try:
        return json.loads((Path(out) / "batch.json").read_text())
    except (OSError, ValueError):
        return {}
