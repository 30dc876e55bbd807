"""The demo plate: a synthetic 24 h time-lapse of a 4x4 plate, with its exact ground truth.

:func:`write_demo` writes, deterministically from a seed::

    <root>/demo-movie/plate.tif                  the raw plate movie (T, H, W) uint8, ImageJ
                                                 stack with its frame interval (600 s)
    <root>/demo-movie/truth.tif                  (T, H, W) uint8 labels: 0 = background,
                                                 k = a cell of pool k
    <root>/demo-movie/manual_measurements.csv    pool,frame,time_min,area_px (human-like)
    <root>/demo-movie/scene.json                 what was drawn: pools, cells, bubbles
    <root>/demo/                                 the ready experiment: cropped, cleaned,
                                                 annotated every 15th frame from the truth

The plate looks like the lab's: a dark plate around 16 round pools (light gray, vignetted,
with a meniscus rim), one or two blastocysts per pool (an irregular trophectoderm ring of cells
around a fluid-filled cavity with an inner cell mass, inside a zona pellucida ring), which
grow, collapse (quickly shrink and crumple) and re-expand at their own times. Bubbles pop out
of some cells and drift away (never part of the truth: the lab's known failure mode), debris
lies about, the camera adds noise and the illumination drifts slowly.

The ready experiment is built with the app's own code paths: :func:`blasto.prepare.crop.crop_plate`
on the exact grid, :func:`blasto.prepare.clean.clean_experiment`, and
:meth:`blasto.store.experiment.Experiment.write_mask` with the truth cropped by
:func:`blasto.prepare.crop.crop_box` (``order=0``, the movie crop's geometry).

Everything is rendered with vectorised numpy in small boxes around each cell, so the full demo
takes seconds, not minutes.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from blasto.store import atomic
from blasto.errors import BlastoError, ExperimentError

#: Plate movie size (square, pixels) and the pool grid inside it: 4x4 boxes of 290 px.
PLATE_SIZE = 1200
GRID_ROWS = GRID_COLS = 4
GRID_MARGIN = 20
#: Time between frames, stored in the movie's ImageJ metadata.
FRAME_INTERVAL_S = 600.0
#: Microns per source pixel (an expanded blastocyst is then 170-190 um across).
PIXEL_SIZE_UM = 1.5
#: Hand annotations: every 15th frame, as the lab does.
ANNOTATE_EVERY = 15
#: Pools with "manual measurements": one training pool and one validation pool.
MANUAL_POOLS = (3, 14)
#: Frames measured by hand: every 3rd, a few skipped.
MANUAL_EVERY = 3
#: Shortest and longest demo movies (the whole movie is drawn in memory: 2.9 MB a frame).
MIN_FRAMES, MAX_FRAMES = 10, 1000
#: The ready experiment's name and the raw movie's folder under the root.
EXPERIMENT_NAME = "demo"
MOVIE_DIR = "demo-movie"

_PLATE_LEVEL = 38.0  # dark plate between the pools
_HARMONICS = np.arange(2, 7)  # low-frequency shape harmonics of a cell outline


# -- the scene: everything that is drawn, decided before drawing ---------------------------------
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

    def extent(self) -> float:
        """Largest distance from the centre that the cell or its zona reaches."""
        e, _ = self.zona_ellipse
        return float(((self.zona + self.zona_width) * (1 + e)).max() + 3.0)


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
    """Everything one demo movie shows, frame by frame; :func:`render_frame` draws it."""

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


def _smooth_noise(rng, shape, sigma) -> np.ndarray:
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
        depth = rng.uniform(0.2, 0.33)  # radius lost: 35-55 % of the area
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
    texture = (0.65 * _smooth_noise(rng, (size, size), 1.0)
               + 0.35 * _smooth_noise(rng, (size, size), 2.5)).astype(np.float32)
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
            e, _ = cell.zona_ellipse
            reach = (cell.zona[start] + cell.zona_width[start]) * (1 + e) + radius + 2.0
            life = int(np.clip(rng.uniform(0.1, 0.3) * n_frames, 3, n_frames - start))
            speed = rng.uniform(1.5, 4.0)
            side = np.array([-direction[1], direction[0]]) * rng.uniform(-0.6, 0.6)
            steps = np.arange(life)[:, None]
            track = cell.center[start] + direction * reach + steps * (speed * direction + side)
            # A bubble slides along the pool wall rather than leave the pool.
            rel = track - center
            dist = np.hypot(rel[:, 0], rel[:, 1])
            limit = pool_radius - radius - 4.0
            track = np.where((dist > limit)[:, None], center + rel * (limit / dist)[:, None], track)
            # Stay clear of every cell in the pool for the bubble's whole life.
            if all(_clear_of(track, start, other, radius) for other in cells):
                bubbles.append(Bubble(pool=pool, start=int(start), track=track, radius=float(radius)))
    return bubbles


def _clear_of(track, start, cell, radius) -> bool:
    e, _ = cell.zona_ellipse
    frames = np.arange(start, start + len(track))
    reach = (cell.zona[frames] + cell.zona_width[frames]) * (1 + e) + radius + 1.0
    return bool((np.hypot(*(track - cell.center[frames]).T) > reach).all())


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
            rel = path - center
            dist = np.hypot(rel[:, 0], rel[:, 1])
            limit = pool_radius - 6.0
            speck.track = np.where((dist > limit)[:, None], center + rel * (limit / np.maximum(dist, 1e-6))[:, None], path)
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


# -- drawing ----------------------------------------------------------------------------------
def _patch(center, half, size):
    """Slices of a (2 half + 1)-wide box around ``center`` clipped to the plate, and the offsets
    (dy, dx) of its pixels from the exact centre."""
    cy, cx = int(round(center[0])), int(round(center[1]))
    y0, y1 = max(0, cy - half), min(size, cy + half + 1)
    x0, x1 = max(0, cx - half), min(size, cx + half + 1)
    dy = (np.arange(y0, y1) - center[0])[:, None].astype(np.float32)
    dx = (np.arange(x0, x1) - center[1])[None, :].astype(np.float32)
    return (slice(y0, y1), slice(x0, x1)), dy, dx


def _band(x, width):
    """Soft 0..1 step: 1 where ``x`` < 0, 0 where ``x`` > 0, over about ``width`` pixels."""
    return np.clip(0.5 - x * np.float32(1.0 / width), 0.0, 1.0)


def _ring(x, width):
    """Soft bump, 1 at ``x`` = 0 and 0 beyond 2 ``width`` (cheaper than a Gaussian)."""
    bump = np.clip(1.0 - (x * np.float32(0.5 / width)) ** 2, 0.0, 1.0)
    return bump * bump


def render_background(scene) -> np.ndarray:
    """The static plate: dark plate, vignetted pools with a meniscus rim, resting debris."""
    size = PLATE_SIZE
    rng = np.random.default_rng([scene.seed, 3])  # the plate's texture
    plate = _PLATE_LEVEL + 3.0 * _smooth_noise(rng, (size // 8, size // 8), 2.0)
    image = np.kron(plate, np.ones((8, 8), np.float32)).astype(np.float32)
    for center, radius, level in zip(scene.pool_centers, scene.pool_radii, scene.pool_levels):
        half = int(radius + 8)
        where, dy, dx = _patch(center, half, size)
        rho = np.hypot(dy, dx)
        inside = _band(rho - radius, 1.2)
        vignette = level * (1.0 - 0.2 * (rho / radius) ** 3)
        pool = vignette + 14.0 * _ring(rho - (radius - 4.0), 1.8)  # bright meniscus
        pool -= 10.0 * _ring(rho - (radius - 1.0), 1.0)  # dark wall
        image[where] = image[where] * (1.0 - inside) + pool * inside
    for speck in scene.debris:
        _draw_speck(image, speck, 0)
    return image


def _draw_speck(image, speck, t):
    center = speck.track[min(t, len(speck.track) - 1)]
    ry, rx = speck.radii
    where, dy, dx = _patch(center, int(max(ry, rx)) + 3, image.shape[0])
    c, s = math.cos(speck.angle), math.sin(speck.angle)
    u, v = (dy * c + dx * s) / ry, (-dy * s + dx * c) / rx
    image[where] -= speck.darkness * _band(np.hypot(u, v) - 1.0, 0.6)


def _draw_cell(image, labels, cell, t):
    """Add one cell (and its zona) to ``image`` and its truth to ``labels``."""
    e, e_angle = cell.zona_ellipse
    half = int(math.ceil(cell.extent())) + 3
    where, dy, dx = _patch(cell.center[t], half, image.shape[0])
    r = np.hypot(dy, dx)
    theta = np.arctan2(dy, dx)
    edge = cell.outline(t, theta)
    inside = r < edge
    labels[where][inside] = cell.pool

    radius, collapse = float(cell.radius[t]), float(cell.collapse[t])
    phases = [float(p) for p in cell.phases[t]]
    # Texture in the cell's own coordinates: it stretches as the cell expands.
    k = cell.texture_radius / radius
    n = cell.texture.shape[0]
    iy = np.clip(np.rint(dy * k + n / 2), 0, n - 1).astype(np.intp)
    ix = np.clip(np.rint(dx * k + n / 2), 0, n - 1).astype(np.intp)
    tex = cell.texture[iy, ix]

    depth = edge - r  # pixels inside the outline
    cover = _band(-depth, 1.0)
    te = cell.trophectoderm_px * (1.0 + 0.6 * collapse)
    cavity_edge = np.maximum(0.0, edge - te - 0.45 * collapse * radius)
    cavity = _band(r - cavity_edge, 1.5) * (cavity_edge > 2.0)
    layer = np.clip(cover - cavity, 0.0, 1.0)
    # Trophectoderm: a ring of flat cells, their junctions seen as dark radial lines.
    junction = _ring(np.sin(cell.junctions * (theta - phases[0] / 3) / 2.0), 0.1)
    delta = layer * (-20.0 + 11.0 * tex - 14.0 * junction * _band(depth - te, 2.0))
    # Inner cell mass: a granular clump on the inner wall of the cavity.
    a = cell.icm_angle + phases[1] / 4
    icm_r = 0.33 * radius * (1.0 - 0.5 * collapse)
    spot = max(0.0, float(np.mean(edge)) - te - icm_r * 0.8)
    icm = _band(np.hypot(dy - spot * math.sin(a), dx - spot * math.cos(a)) - icm_r, 2.0) * cavity
    delta += cavity * (5.0 + 3.0 * tex) * (1.0 - icm) + icm * (-28.0 + 14.0 * tex)
    delta -= 9.0 * _ring(r - cavity_edge, 1.0) * (cavity_edge > 2.0)
    delta -= 32.0 * _ring(depth, 1.1)  # the cell membrane, dark
    delta += 10.0 * _ring(-depth - 2.5, 1.4)  # phase halo just outside

    # Zona pellucida: a light, slightly elliptical band with dark edges.
    zona_r = float(cell.zona[t]) * (1.0 + e * np.cos(2.0 * (theta - e_angle)))
    z = r - zona_r
    w = float(cell.zona_width[t])
    band = _band(-z, 1.0) * _band(z - w, 1.0)
    delta += band * (20.0 + 3.0 * tex) - 18.0 * _ring(z, 1.0) - 14.0 * _ring(z - w, 1.0)
    delta += 6.0 * _ring(z - w - 2.5, 1.5)
    # Relief (modulation contrast): the shape's slope lit from one side.
    height = 0.8 * cover + 0.6 * band
    relief = np.zeros_like(height)
    relief[1:-1, 1:-1] = (height[2:, 2:] - height[:-2, :-2])
    image[where] += delta + 16.0 * relief


def _draw_bubble(image, bubble, t):
    center = bubble.position(t)
    rb = bubble.radius
    where, dy, dx = _patch(center, int(rb) + 5, image.shape[0])
    r = np.hypot(dy, dx)
    rim = _band(r - rb, 0.8) * _band((rb - 0.35 * rb - 1.0) - r, 0.8)
    image[where] += (-55.0 * rim + 45.0 * _ring(r / (0.4 * rb), 1.0)
                     + 12.0 * _ring(r - rb - 1.6, 1.2))


def render_frame(scene, t, background, noise_bank, rng) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``t`` of the plate movie (uint8) and its truth labels (uint8, pool numbers)."""
    image = background.copy()
    labels = np.zeros(image.shape, np.uint8)
    for cell in scene.cells:
        _draw_cell(image, labels, cell, t)
    for speck in scene.drifting:
        _draw_speck(image, speck, t)
    for bubble in scene.bubbles:
        if bubble.position(t) is not None:
            _draw_bubble(image, bubble, t)
    gy, gx = scene.gradient[t]
    image *= np.float32(scene.gain[t])
    image += _RAMP * np.float32(gy)
    image += _RAMP.T * np.float32(gx)
    bank = noise_bank[int(rng.integers(len(noise_bank)))]
    oy, ox = rng.integers(0, bank.shape[0] - PLATE_SIZE, 2)
    image += bank[oy:oy + PLATE_SIZE, ox:ox + PLATE_SIZE]
    np.clip(image, 0, 255, out=image)
    return np.rint(image).astype(np.uint8), labels


# Illumination slope: -0.5 at one edge of the plate, +0.5 at the other.
_RAMP = (np.linspace(-0.5, 0.5, PLATE_SIZE, dtype=np.float32)[:, None]
         * np.ones((1, PLATE_SIZE), np.float32))


def synthesize_plate(*, seed=0, n_frames=144, boxes=None):
    """Render the plate movie and its truth in memory.

    Returns ``(movie, truth, scene)``: (T, H, W) uint8 frames, (T, H, W) uint8 labels
    (0 = background, k = a cell of pool k) and the :class:`Scene` that was drawn.
    """
    if not MIN_FRAMES <= int(n_frames) <= MAX_FRAMES:
        raise BlastoError(f"The demo has {MIN_FRAMES} to {MAX_FRAMES} frames (asked for {n_frames}).")
    n_frames = int(n_frames)
    if boxes is None:
        boxes = demo_grid().boxes()
    scene = plan_scene(seed=seed, n_frames=n_frames, boxes=boxes)
    rng = np.random.default_rng([seed, 1])
    background = render_background(scene)
    # Camera noise: a few pre-drawn fields, taken at a random shift for each frame.
    noise_bank = [(rng.standard_normal((PLATE_SIZE + 64, PLATE_SIZE + 64), np.float32) * 3.0)
                  for _ in range(3)]
    movie = np.empty((n_frames, PLATE_SIZE, PLATE_SIZE), np.uint8)
    truth = np.empty_like(movie)
    for t in range(n_frames):
        movie[t], truth[t] = render_frame(scene, t, background, noise_bank, rng)
    return movie, truth, scene


# -- manual measurements: what a careful person would have traced ---------------------------
def true_areas(truth: np.ndarray, *, n_pools: int = GRID_ROWS * GRID_COLS) -> np.ndarray:
    """Exact cell area (source pixels) of every pool in every frame: (T, n_pools + 1), column
    k for pool k (column 0 is the background).

    >>> true_areas(np.array([[[0, 1], [1, 2]]], np.uint8), n_pools=2).tolist()
    [[1, 2, 1]]
    """
    return np.stack([np.bincount(frame.ravel(), minlength=n_pools + 1)[: n_pools + 1]
                     for frame in np.asarray(truth)])


def manual_measurements(truth, *, pools=MANUAL_POOLS, seed=0) -> list[dict]:
    """Human-like area measurements of ``pools``: every 3rd frame with a few skipped, the true
    area with a slight systematic bias (outlines traced a little outside the membrane) and a
    few per cent of noise. Rows of pool, frame, time_min, area_px."""
    rng = np.random.default_rng([seed, 2])
    areas = true_areas(truth)
    bias = rng.uniform(0.015, 0.035)
    rows = []
    for pool in pools:
        for frame in range(0, len(areas), MANUAL_EVERY):
            if frame and rng.random() < 0.1:  # a frame the person skipped
                continue
            measured = areas[frame, pool] * (1.0 + bias) * (1.0 + rng.normal(0.0, 0.025))
            rows.append({"pool": int(pool), "frame": frame,
                         "time_min": round(frame * FRAME_INTERVAL_S / 60.0, 3),
                         "area_px": int(round(measured))})
    return rows


def _csv(rows) -> str:
    lines = ["pool,frame,time_min,area_px"]
    lines += [f"{r['pool']},{r['frame']},{r['time_min']:g},{r['area_px']}" for r in rows]
    return "\n".join(lines) + "\n"


# -- files ----------------------------------------------------------------------------------
def _write_plate_movie(path, movie) -> None:
    """The raw plate movie as an uncompressed ImageJ stack that knows its frame interval and
    pixel size (Fiji shows both)."""
    import tifffile

    with atomic.atomic_path(path, suffix=".tif") as tmp:
        tifffile.imwrite(
            tmp, movie, imagej=True, resolution=(1.0 / PIXEL_SIZE_UM, 1.0 / PIXEL_SIZE_UM),
            metadata={"axes": "TYX", "finterval": FRAME_INTERVAL_S, "tunit": "s", "unit": "um"},
        )


def _write_labels(path, labels) -> None:
    """A (T, H, W) uint8 stack, zlib-compressed: truth is mostly zeros (read it with
    ``tifffile.imread``)."""
    import tifffile

    with atomic.atomic_path(path, suffix=".tif") as tmp:
        tifffile.imwrite(tmp, np.asarray(labels, np.uint8), photometric="minisblack",
                         compression="zlib", compressionargs={"level": 1})


def pool_truth_path(experiment, pool: int) -> Path:
    """Where a (demo) experiment keeps a pool's exact truth: pools/poolNN/truth.tif."""
    return experiment.pool_dir(pool) / "truth.tif"


def read_pool_truth(experiment, pool: int) -> np.ndarray | None:
    """A pool's exact truth as (T, size, size) bool (True = cell), or None if it has none."""
    import tifffile

    path = pool_truth_path(experiment, pool)
    if not path.exists():
        return None
    return tifffile.imread(path) > 127


def _fill_experiment(experiment, plate_path, truth, grid, rows, *, seed, n_frames, say) -> None:
    """Crop, clean and annotate the demo experiment with the app's own code paths."""
    from blasto.prepare.clean import clean_experiment
    from blasto.prepare.crop import crop_box, crop_plate
    from blasto.review.measurements import measurements_path

    say("cropping the plate into 16 pool movies")
    crop_plate(plate_path, experiment, grid=grid, size=256)
    say("cleaning the background")
    clean_experiment(experiment)
    size = experiment.manifest["size"]
    say(f"annotating every {ANNOTATE_EVERY}th frame from the truth")
    for entry in experiment.manifest["pools"]:
        pool, box = entry["number"], entry["box"]
        cell = np.stack([crop_box(labels, box, size=size, order=0) == pool for labels in truth])
        _write_labels(pool_truth_path(experiment, pool), np.where(cell, 255, 0).astype(np.uint8))
        for frame in range(0, n_frames, ANNOTATE_EVERY):
            experiment.write_mask(pool, frame, cell[frame])
    for pool in sorted({r["pool"] for r in rows}):
        atomic.write_text(measurements_path(experiment, pool), _csv([r for r in rows if r["pool"] == pool]))
    experiment.manifest.update(
        pixel_size_um=PIXEL_SIZE_UM,
        notes=(f"Synthetic demo plate (seed {seed}, {n_frames} frames), made by "
               "`python -m blasto demo`: masks every 15th frame come from the exact ground "
               "truth (pools/poolNN/truth.tif); manual measurements for pools "
               f"{', '.join(str(p) for p in sorted({r['pool'] for r in rows}))}."),
        demo={"seed": int(seed), "n_frames": int(n_frames), "truth": "pools/poolNN/truth.tif",
              "manual_measurement_pools": sorted({r["pool"] for r in rows})},
    )
    experiment.manifest["annotation"]["every"] = ANNOTATE_EVERY
    experiment.save_manifest()


def write_demo(root, *, seed=0, n_frames=144, overwrite=False, progress=None):
    """Write the demo plate movie, its truth and manual measurements, and the ready experiment.

    Layout under ``root`` (see the module doc): ``demo-movie/`` (plate.tif, truth.tif,
    manual_measurements.csv, scene.json) and the experiment ``demo/``. Everything is built in a
    hidden folder under ``root`` and moved into place at the end, so an interrupted run leaves
    nothing half-made. An existing ``demo`` experiment (which may hold work) is refused unless
    ``overwrite=True``; a ``demo-movie/`` without it is simply made again.
    ``progress(message)`` hears about each stage. Returns the :class:`~blasto.store.experiment.Experiment`.
    """
    from blasto.store.experiment import Experiment, create_experiment

    say = progress or (lambda message: None)
    root = Path(root)
    movie_dir, target = root / MOVIE_DIR, root / EXPERIMENT_NAME
    if int(seed) < 0:
        raise BlastoError(f"The demo's seed must be 0 or more (got {seed}).")
    if not MIN_FRAMES <= int(n_frames) <= MAX_FRAMES:
        raise BlastoError(f"The demo has {MIN_FRAMES} to {MAX_FRAMES} frames (asked for {n_frames}).")
    if target.exists() and not overwrite:
        raise ExperimentError(
            f"{target} already exists: overwrite it (--force; its annotations are lost) "
            "or write the demo into another folder."
        )
    root.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(dir=root, prefix=".demo-build-"))
    try:
        grid = demo_grid()
        say(f"drawing {n_frames} frames of a {PLATE_SIZE}x{PLATE_SIZE} plate (seed {seed})")
        movie, truth, scene = synthesize_plate(seed=seed, n_frames=n_frames, boxes=grid.boxes())
        say("writing the plate movie, its truth and the manual measurements")
        _write_plate_movie(build / MOVIE_DIR / "plate.tif", movie)
        del movie
        _write_labels(build / MOVIE_DIR / "truth.tif", truth)
        rows = manual_measurements(truth, seed=seed)
        atomic.write_text(build / MOVIE_DIR / "manual_measurements.csv", _csv(rows))
        atomic.write_json(build / MOVIE_DIR / "scene.json", scene.to_json())
        experiment = create_experiment(EXPERIMENT_NAME, root=build)
        _fill_experiment(experiment, build / MOVIE_DIR / "plate.tif", truth, grid, rows,
                         seed=seed, n_frames=n_frames, say=say)
        # Move into place; an old demo goes into the build folder, removed below.
        for name in (MOVIE_DIR, EXPERIMENT_NAME):
            if (root / name).exists():
                (root / name).rename(build / f"old-{name}")
            (build / name).rename(root / name)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    # The experiment was cropped from the movie in the build folder: point it at the final one.
    experiment = Experiment(target)
    experiment.manifest["source"]["path"] = str((movie_dir / "plate.tif").resolve())
    experiment.save_manifest()
    say(f"done: {target}")
    return experiment
