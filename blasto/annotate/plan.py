"""Which frames of each pool get a hand mask, and how far the annotation has come.

The plan is the manifest's ``annotation``: every Nth frame of every pool (the lab's 15), plus
single frames added, minus single frames removed, per pool.
"""

from __future__ import annotations

from dataclasses import dataclass

from blasto.errors import MaskError

def frames_to_annotate(experiment, pool: int, *, n_frames: int | None = None) -> list[int]:
    """Frames of ``pool`` meant to get a hand mask: every Nth from 0, plus added, minus removed."""
    plan = experiment.manifest.annotation
    n_frames = experiment.n_frames(pool) if n_frames is None else n_frames
    frames = set(range(0, n_frames, plan.every))
    frames |= {f for f in plan.added.get(int(pool), []) if 0 <= f < n_frames}
    frames -= set(plan.removed.get(int(pool), []))
    return sorted(frames)


def set_every(experiment, every: int) -> None:
    """Annotate every ``every``-th frame (of every pool); saved in the manifest."""
    every = int(every)
    if every < 1:
        raise MaskError(f"Annotate every {every} frames? Use a whole number of at least 1.")
    experiment.manifest.annotation.every = every
    experiment.save_manifest()


def _toggle(experiment, pool: int, frame: int, *, wanted: bool) -> None:
    plan = experiment.manifest.annotation
    n_frames = experiment.n_frames(pool)
    if not 0 <= int(frame) < n_frames:
        raise MaskError(f"Pool {pool} has frames 0 to {n_frames - 1}; there is no frame {frame}.")
    pool, frame = int(pool), int(frame)
    added = set(plan.added.get(pool, [])) - {frame}
    removed = set(plan.removed.get(pool, [])) - {frame}
    regular = frame % plan.every == 0
    if wanted and not regular:
        added.add(frame)
    if not wanted and regular:
        removed.add(frame)
    plan.added[pool], plan.removed[pool] = sorted(added), sorted(removed)
    experiment.save_manifest()


def add_frame(experiment, pool: int, frame: int) -> None:
    """Put one more frame of ``pool`` on the list to annotate."""
    _toggle(experiment, pool, frame, wanted=True)


def remove_frame(experiment, pool: int, frame: int) -> None:
    """Take a frame of ``pool`` off the list (a saved mask stays, and still trains)."""
    _toggle(experiment, pool, frame, wanted=False)


def next_frame(experiment, pool: int, *, n_frames: int | None = None) -> int | None:
    """The first frame of ``pool`` on the list without a mask, or None if all are done."""
    done = set(experiment.annotated_frames(pool))
    for frame in frames_to_annotate(experiment, pool, n_frames=n_frames):
        if frame not in done:
            return frame
    return None


@dataclass(frozen=True)
class PoolProgress:
    """How far one pool's annotation has come."""

    pool: int
    side: str | None
    annotated: int  # frames with a saved mask
    to_annotate: int  # frames on the list
    left: int  # frames on the list without a mask
    next_frame: int | None  # the first of those, or None when all are done


def progress_rows(experiment, *, n_frames: int | None = None) -> list[PoolProgress]:
    """One :class:`PoolProgress` per pool.

    ``n_frames``: the pool movies' length, when the caller knows it (else read from a movie).
    """
    rows = []
    pools = experiment.pool_numbers
    if n_frames is None:
        n_frames = experiment.n_frames(pools[0]) if pools else 0
    for pool in pools:
        wanted = frames_to_annotate(experiment, pool, n_frames=n_frames)
        done = set(experiment.annotated_frames(pool))
        todo = [f for f in wanted if f not in done]
        rows.append(PoolProgress(pool=pool, side=experiment.manifest.split.side_of(pool),
                                 annotated=len(done), to_annotate=len(wanted), left=len(todo),
                                 next_frame=todo[0] if todo else None))
    return rows


def progress_table(rows: list[PoolProgress]):
    """Progress rows as the page's table (pandas), "all done" where nothing is left."""
    import pandas as pd

    return pd.DataFrame({
        "pool": [r.pool for r in rows],
        "side": [r.side or "-" for r in rows],
        "annotated": [r.annotated for r in rows],
        "to annotate": [r.to_annotate for r in rows],
        "left": [r.left for r in rows],
        "next frame": pd.array([r.next_frame for r in rows], dtype="Int64").astype("string").fillna("all done"),
    })
