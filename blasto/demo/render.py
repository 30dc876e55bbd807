"""Drawing the demo plate: the static background, then each frame's cells, debris and bubbles.

:func:`synthesize_plate` plans a :class:`~blasto.demo.scene.Scene` from the seed and renders
the whole movie and its exact truth in memory. Everything is rendered with vectorised numpy in
small boxes around each cell, so the full demo takes seconds, not minutes.
"""

from __future__ import annotations

import math

import numpy as np

from blasto.demo.scene import PLATE_SIZE, checked_frames, demo_grid, plan_scene, smooth_noise

_PLATE_LEVEL = 38.0  # dark plate between the pools


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
    plate = _PLATE_LEVEL + 3.0 * smooth_noise(rng, (size // 8, size // 8), 2.0)
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
    (0 = background, k = a cell of pool k) and the :class:`~blasto.demo.scene.Scene` that was drawn.
    """
    n_frames = checked_frames(n_frames)
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

