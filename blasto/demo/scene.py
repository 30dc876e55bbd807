"""The demo plate's plan: pools, cells and their stories, bubbles, debris, decided before drawing.

:func:`plan_scene` draws every random choice from the seed, so the same seed always gives the
same :class:`Scene`; :mod:`blasto.demo.render` then draws it frame by frame.

The plate looks like the lab's: a dark plate around 16 round pools (light gray, vignetted,
with a meniscus rim), one or two blastocysts per pool (an irregular trophectoderm ring of cells
around a fluid-filled cavity with an inner cell mass, inside a zona pellucida ring), which
grow, collapse (quickly shrink and crumple) and re-expand at their own times. Bubbles pop out
of some cells and drift away (never part of the truth: the lab's known failure mode), debris
lies about, the camera adds noise and the illumination drifts slowly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from blasto.errors import BlastoError

#: Plate movie size (square, pixels) and the pool grid inside it: 4x4 boxes of 290 px.
PLATE_SIZE = 1200
GRID_ROWS = GRID_COLS = 4
GRID_MARGIN = 20
#: Time between frames, stored in the movie's ImageJ metadata.
FRAME_INTERVAL_S = 600.0
#: Microns per source pixel (an expanded blastocyst is then 170-190 um across).
PIXEL_SIZE_UM = 1.5
#: Shortest and longest demo movies (the whole movie is drawn in memory: 2.9 MB a frame).
MIN_FRAMES, MAX_FRAMES = 10, 1000

_HARMONICS = np.arange(2, 7)  # low-frequency shape harmonics of a cell outline


def checked_frames(n_frames) -> int:
    """``n_frames`` as an int, or a BlastoError when the demo cannot have that many frames.

    >>> checked_frames(20)
    20
    """
    if not MIN_FRAMES <= int(n_frames) <= MAX_FRAMES:
        raise BlastoError(f"The demo has {MIN_FRAMES} to {MAX_FRAMES} frames (asked for {n_frames}).")
    return int(n_frames)


@dataclass
class Cell:
    """One blastocyst: its outline over time and the look of its inside."""

    pool: int
    center: np.ndarray  # (T, 2) y, x in plate pixels
    radius: np.ndarray  # (T,) mean outline radius
    collapse: np.ndarray  # (T,) 0 = relaxed, 1 = fully collapsed (crumpled, no cavity)
    amplitudes: np.ndarray  # (T, K) relative amplitude of each shape harmonic
    phases: np.ndarray  # (T, K)
    zona: np.ndarray  # (T,) inner radius of the zona pellucida
    zona_width: np.ndarray  # (T,)
    zona_ellipse: tuple  # (eccentricity, angle)
    trophectoderm_px: float  # thickness of the outer cell layer
    junctions: int  # number of trophectoderm cells around the ring
    icm_angle: float  # where the inner cell mass sits
    texture: np.ndarray  # granular texture, in the cell's own (expanding) coordinates
    texture_radius: float  # radius the texture is drawn at
    collapse_frames: list = field(default_factory=list)

    def outline(self, t: int, theta: np.ndarray) -> np.ndarray:
        """Radius of the cell's outline at angles ``theta`` in frame ``t``."""
        theta = np.asarray(theta, np.float32)
        wobble = np.zeros(theta.shape, np.float32)
        for k, amplitude, phase in zip(_HARMONICS, self.amplitudes[t], self.phases[t]):
            wobble += np.float32(amplitude) * np.cos(np.float32(k) * theta + np.float32(phase))
        return np.float32(self.radius[t]) * (1.0 + wobble)

    def zona_reach(self, frames=slice(None)) -> np.ndarray:
        """Outer radius of the zona in ``frames`` (an index, indices or a slice: all by default),
        on the long axis of its ellipse: nothing of the cell lies farther from its centre."""
        e, _ = self.zona_ellipse
        return (self.zona[frames] + self.zona_width[frames]) * (1 + e)

    def extent(self) -> float:
        """Largest distance from the centre that the cell or its zona reaches, in any frame."""
        return float(self.zona_reach().max() + 3.0)


@dataclass
class Bubble:
    """A bubble that pops out of a cell at ``start`` and drifts away until it bursts."""

    pool: int
    start: int
    track: np.ndarray  # (n, 2) y, x in plate pixels, one row per frame from ``start``
    radius: float

    def position(self, t: int):
        i = t - self.start
        return self.track[i] if 0 <= i < len(self.track) else None


@dataclass
class Speck:
    """A piece of debris: a small dark elliptical speck, resting or drifting."""

    track: np.ndarray  # (T, 2) or (1, 2) for resting debris
    radii: tuple  # (ry, rx)
    angle: float
    darkness: float


@dataclass
class Scene:
    """Everything one demo movie shows, frame by frame; :func:`blasto.demo.render.render_frame`
    draws it."""

    seed: int
    n_frames: int
    boxes: list
    pool_centers: np.ndarray  # (16, 2)
    pool_radii: np.ndarray  # (16,)
    pool_levels: np.ndarray  # (16,)
    cells: list
    bubbles: list
    debris: list  # resting debris, drawn into the static background
    drifting: list  # floating debris
    gain: np.ndarray  # (T,) illumination gain
    gradient: np.ndarray  # (T, 2) illumination slope along y and x (gray levels per plate)

    def to_json(self) -> dict:
        """What was drawn, for people and tests: pools, cells, bubble tracks."""
        return {
            "plate_size": PLATE_SIZE,
            "n_frames": self.n_frames,
            "frame_interval_s": FRAME_INTERVAL_S,
            "pools": [
                {"number": i + 1, "box": list(map(int, box)),
                 "center": [round(float(v), 2) for v in self.pool_centers[i]],
                 "radius": round(float(self.pool_radii[i]), 2),
                 "cells": sum(c.pool == i + 1 for c in self.cells)}
                for i, box in enumerate(self.boxes)
            ],
            "cells": [
                {"pool": c.pool, "collapse_frames": c.collapse_frames,
                 "radius_min": round(float(c.radius.min()), 2),
                 "radius_max": round(float(c.radius.max()), 2)}
                for c in self.cells
            ],
            "bubbles": [
                {"pool": b.pool, "start": b.start, "radius": round(b.radius, 2),
                 "track": [[round(float(y), 1), round(float(x), 1)] for y, x in b.track]}
                for b in self.bubbles
            ],
        }


def demo_grid():
    """The exact pool grid of the demo plate (a :class:`blasto.prepare.grid.Grid`): boxes of 290 px.

    >>> demo_grid().boxes()[:2]
    [(20, 20, 310, 310), (20, 310, 310, 600)]
    """
    from blasto.prepare.grid import Grid

    return Grid(rows=GRID_ROWS, cols=GRID_COLS, top=GRID_MARGIN, left=GRID_MARGIN,
                bottom=PLATE_SIZE - GRID_MARGIN, right=PLATE_SIZE - GRID_MARGIN)


def smooth_noise(rng, shape, sigma) -> np.ndarray:
    """Gaussian-smoothed white noise scaled to zero mean and unit spread."""
    from scipy.ndimage import gaussian_filter

    noise = gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    return (noise - noise.mean()) / (noise.std() + 1e-6)


def _radius_curve(rng, n_frames, *, start, expanded):
    """Mean radius over time: slow growth, then collapses with quick shrink and slow recovery.

    Times are fractions of the movie, so a short movie still shows the whole story.
    Returns (radius, collapse degree 0..1, collapse frames).
    """
    t = np.arange(n_frames, dtype=float)
    T = float(n_frames)
    middle, width = rng.uniform(0.05, 0.45) * T, max(1.0, rng.uniform(0.04, 0.1) * T)
    growth = 1.0 / (1.0 + np.exp(-(t - middle) / width))
    base = start + (expanded - start) * (growth - growth[0]) / (1.0 - growth[0])

    count = rng.choice([1, 2, 2, 3])
    times = []
    for _ in range(50):  # collapses at least 15 % of the movie apart
        candidate = int(rng.uniform(0.15, 0.9) * T)
        if all(abs(candidate - other) >= 0.15 * T for other in times):
            times.append(candidate)
        if len(times) == count:
            break
    times.sort()
    keep = np.ones(n_frames)
    for when in times:
        # Radius lost: 41-55 % of the area (54-70 % of the volume). The field calls a loss of
        # >= 50 % of the volume a collapse (>= 37 % of a sphere's area; blasto.review.events), so
        # every drawn collapse is one by that definition, with a margin for measurement noise.
        depth = rng.uniform(0.23, 0.33)
        duration = rng.integers(1, 3)  # a collapse takes 10-20 minutes
        recovery = max(1.5, rng.uniform(0.04, 0.09) * T)
        tau = t - when
        shape = np.where(tau < 0, 0.0, np.where(tau < duration, tau / duration,
                                                  np.exp(-(tau - duration) / recovery)))
        keep *= 1.0 - depth * shape
    collapse = np.clip((1.0 - keep) / 0.25, 0.0, 1.0)
    return base * keep, collapse, times


def _make_cell(rng, pool, n_frames, *, start, expanded) -> Cell:
    radius, collapse, times = _radius_curve(rng, n_frames, start=start, expanded=expanded)
    k = len(_HARMONICS)
    relaxed = rng.uniform(0.012, 0.04, k) * (2.0 / _HARMONICS)
    crumpled = rng.uniform(0.02, 0.05, k) * np.sqrt(2.0 / _HARMONICS)
    crumpled *= min(1.0, 0.16 / crumpled.sum())
    amplitudes = relaxed[None, :] + collapse[:, None] * crumpled[None, :]
    t = np.arange(n_frames)[:, None]
    phases = (rng.uniform(0, 2 * np.pi, k)[None, :] + rng.uniform(-0.03, 0.03, k)[None, :] * t
              + collapse[:, None] * rng.uniform(-2.0, 2.0, k)[None, :])

    # The zona hugs the cell when it is stretched and relaxes slowly after a collapse,
    # leaving a gap of fluid (the perivitelline space) between it and the shrunken cell.
    ecc, ecc_angle = rng.uniform(0.0, 0.035), rng.uniform(0, np.pi)
    reach = radius * (1.0 + amplitudes.sum(axis=1))
    rest = reach[0] + rng.uniform(2.0, 5.0)
    zona = np.empty(n_frames)
    previous = rest
    relax = 1.0 / max(2.0, 0.12 * n_frames)
    for i in range(n_frames):
        needed = (reach[i] + 1.5) / (1.0 - ecc)
        previous = max(needed, previous - (previous - max(rest, needed)) * relax)
        zona[i] = previous
    width0 = rng.uniform(6.0, 9.0)
    zona_width = np.maximum(3.0, width0 * rest / zona)

    size = int(2 * math.ceil(expanded * 1.35) + 8)
    texture = (0.65 * smooth_noise(rng, (size, size), 1.0)
               + 0.35 * smooth_noise(rng, (size, size), 2.5)).astype(np.float32)
    return Cell(
        pool=pool, center=np.zeros((n_frames, 2)), radius=radius, collapse=collapse,
        amplitudes=amplitudes, phases=phases, zona=zona, zona_width=zona_width,
        zona_ellipse=(ecc, ecc_angle), trophectoderm_px=rng.uniform(5.5, 8.0),
        junctions=int(rng.integers(16, 26)), icm_angle=rng.uniform(0, 2 * np.pi),
        texture=texture, texture_radius=float(expanded), collapse_frames=[int(x) for x in times],
    )


def _place_cells(rng, cells, center, pool_radius, n_frames):
    """Put one or two cells in a pool so that each, with its zona, stays inside and apart."""
    margin = 6.0
    drift = rng.uniform(0, 4.0, len(cells))
    extents = [c.extent() + d for c, d in zip(cells, drift)]
    room = pool_radius - margin
    axis = rng.uniform(0, 2 * np.pi)
    direction = np.array([np.sin(axis), np.cos(axis)])
    if len(cells) == 1:
        offsets = [direction * rng.uniform(0, max(0.0, room - extents[0]))]
    else:
        slack = 2 * room - 2 * sum(extents) - 2
        assert slack >= 0, "cell sizes in plan_scene are chosen so that two always fit"
        cut = rng.uniform(0, slack / 2, 2)
        offsets = [direction * (room - extents[0] - cut[0]), -direction * (room - extents[1] - cut[1])]
    frac = np.linspace(0.0, 1.0, n_frames)[:, None]
    for cell, offset, d in zip(cells, offsets, drift):
        heading = rng.uniform(0, 2 * np.pi)
        cell.center = center + offset + frac * d * np.array([np.sin(heading), np.cos(heading)])


def _make_bubbles(rng, pool, cells, center, pool_radius, n_frames) -> list:
    """Bubbles popping out of a cell (most often right after a collapse) and drifting off."""
    bubbles = []
    for cell in cells:
        births = [f + 1 for f in cell.collapse_frames if rng.random() < 0.3]
        if rng.random() < 0.15:
            births.append(int(rng.uniform(0.1, 0.9) * n_frames))
        for start in births:
            if start >= n_frames - 2:
                continue
            radius = rng.uniform(3.0, 7.0)
            # Leave the cell away from the pool's centre, where there is room (and no other cell).
            away = cell.center[start] - center
            base = math.atan2(away[0], away[1]) if np.hypot(*away) > 1 else rng.uniform(0, 2 * np.pi)
            angle = base + rng.uniform(-1.0, 1.0)
            direction = np.array([math.sin(angle), math.cos(angle)])
            reach = cell.zona_reach(start) + radius + 2.0
            life = int(np.clip(rng.uniform(0.1, 0.3) * n_frames, 3, n_frames - start))
            speed = rng.uniform(1.5, 4.0)
            side = np.array([-direction[1], direction[0]]) * rng.uniform(-0.6, 0.6)
            steps = np.arange(life)[:, None]
            track = cell.center[start] + direction * reach + steps * (speed * direction + side)
            # A bubble slides along the pool wall rather than leave the pool.
            track = _kept_inside(track, center, pool_radius - radius - 4.0)
            # Stay clear of every cell in the pool for the bubble's whole life.
            if all(_clear_of(track, start, other, radius) for other in cells):
                bubbles.append(Bubble(pool=pool, start=int(start), track=track, radius=float(radius)))
    return bubbles


def _clear_of(track, start, cell, radius) -> bool:
    """Whether a bubble of ``radius`` on ``track`` (from frame ``start``) never touches ``cell``."""
    frames = np.arange(start, start + len(track))
    reach = cell.zona_reach(frames) + radius + 1.0
    return bool((np.hypot(*(track - cell.center[frames]).T) > reach).all())


def _kept_inside(track, center, limit) -> np.ndarray:
    """``track`` (n, 2) with each point farther than ``limit`` from ``center`` pulled in onto that
    circle, so what drifts slides along the pool wall instead of leaving the pool.

    >>> _kept_inside(np.array([[0.0, 3.0], [0.0, 10.0]]), np.zeros(2), 5.0).tolist()
    [[0.0, 3.0], [0.0, 5.0]]
    """
    rel = track - center
    dist = np.hypot(rel[:, 0], rel[:, 1])
    pulled = center + rel * (limit / np.maximum(dist, 1e-6))[:, None]
    return np.where((dist > limit)[:, None], pulled, track)


def _make_debris(rng, center, pool_radius, n_frames):
    """Resting specks anywhere in the pool and a couple drifting slowly."""
    resting, drifting = [], []
    for i in range(int(rng.integers(3, 9)) + 2):
        r = pool_radius * 0.95 * math.sqrt(rng.random())
        a = rng.uniform(0, 2 * np.pi)
        where = center + r * np.array([math.sin(a), math.cos(a)])
        speck = Speck(track=where[None, :], radii=tuple(rng.uniform(0.8, 2.8, 2)),
                      angle=rng.uniform(0, np.pi), darkness=rng.uniform(25, 60))
        if i < 2 and rng.random() < 0.5:  # floating
            heading = rng.uniform(0, 2 * np.pi)
            path = where + np.arange(n_frames)[:, None] * rng.uniform(0.1, 0.4) * np.array(
                [math.sin(heading), math.cos(heading)])
            speck.track = _kept_inside(path, center, pool_radius - 6.0)
            drifting.append(speck)
        else:
            resting.append(speck)
    return resting, drifting


def plan_scene(*, seed=0, n_frames=144, boxes) -> Scene:
    """Decide everything the demo movie shows: pools, cells and their stories, bubbles, debris.

    ``boxes`` are the pool boxes (top, left, bottom, right), pool 1 first, row by row.
    """
    rng = np.random.default_rng(seed)
    cells, bubbles, debris, drifting = [], [], [], []
    centers, radii, levels = [], [], []
    for index, (top, left, bottom, right) in enumerate(boxes):
        pool = index + 1
        half = min(bottom - top, right - left) / 2.0
        center = np.array([(top + bottom) / 2.0 - 0.5, (left + right) / 2.0 - 0.5])
        center += rng.uniform(-3.0, 3.0, 2)
        pool_radius = half * rng.uniform(0.9, 0.925)
        centers.append(center)
        radii.append(pool_radius)
        levels.append(rng.uniform(150.0, 172.0))
        scale = pool_radius / 133.0
        if rng.random() < 0.3:  # two cells share the pool: smaller ones
            pair = [_make_cell(rng, pool, n_frames, start=rng.uniform(27, 32) * scale,
                               expanded=rng.uniform(37, 42) * scale) for _ in range(2)]
        else:
            pair = [_make_cell(rng, pool, n_frames, start=rng.uniform(36, 44) * scale,
                               expanded=rng.uniform(53, 61) * scale)]
        _place_cells(rng, pair, center, pool_radius, n_frames)
        cells.extend(pair)
        bubbles.extend(_make_bubbles(rng, pool, pair, center, pool_radius, n_frames))
        resting, floating = _make_debris(rng, center, pool_radius, n_frames)
        debris.extend(resting)
        drifting.extend(floating)

    t = np.arange(n_frames) / max(1, n_frames - 1)
    gain = (1.0 + 0.05 * np.sin(2 * np.pi * (0.7 * t + rng.uniform())) + 0.04 * (t - 0.5)
            + rng.normal(0.0, 0.004, n_frames))  # slow drift plus a little flicker
    turn = rng.uniform(0, 2 * np.pi) + 1.5 * t
    gradient = 12.0 * np.stack([np.sin(turn), np.cos(turn)], axis=1)
    return Scene(seed=int(seed), n_frames=n_frames, boxes=[tuple(int(v) for v in b) for b in boxes],
                 pool_centers=np.array(centers), pool_radii=np.array(radii),
                 pool_levels=np.array(levels), cells=cells, bubbles=bubbles, debris=debris,
                 drifting=drifting, gain=gain, gradient=gradient)

