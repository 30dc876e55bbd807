"""How well collapse detection finds the demo's drawn collapses: precision and recall.

The demo's ``demo-movie/scene.json`` lists the frames at which every cell starts to collapse
(the last frame at full size; :mod:`blasto.demo.scene`). :func:`validate_events` measures the
cell masks of each pool (the shipped model's predictions, or the exact truth), detects collapses
with :mod:`blasto.review.events`, and matches detected start frames to drawn ones, one to one,
within ``tolerance`` frames (3: half an hour at the demo's 10 minutes).

>>> match_frames([20, 50, 90], [21, 88, 120], tolerance=3)
2
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from blasto.errors import BlastoError

#: Detected and drawn start frames match when this many frames apart or closer.
TOLERANCE = 3


@dataclass(frozen=True)
class PoolValidation:
    """Drawn and detected collapse start frames of one pool, and how many matched."""

    pool: int
    true_frames: tuple[int, ...]
    detected_frames: tuple[int, ...]
    matched: int


@dataclass(frozen=True)
class Validation:
    """Precision and recall over pools; ``source`` says what was measured ("truth", a model)."""

    source: str
    tolerance: int
    pools: tuple[PoolValidation, ...]

    @property
    def true_positives(self) -> int:
        return sum(p.matched for p in self.pools)

    @property
    def detected(self) -> int:
        return sum(len(p.detected_frames) for p in self.pools)

    @property
    def drawn(self) -> int:
        return sum(len(p.true_frames) for p in self.pools)

    @property
    def precision(self) -> float:
        return self.true_positives / self.detected if self.detected else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.drawn if self.drawn else 1.0

    def describe(self) -> str:
        """One line: precision, recall and counts.

        >>> Validation("truth", 3, (PoolValidation(1, (5, 9), (5,), 1),)).describe()
        'truth: precision 1.000 (1/1), recall 0.500 (1/2), within +-3 frames, 1 pools'
        """
        return (f"{self.source}: precision {self.precision:.3f} ({self.true_positives}/{self.detected}), "
                f"recall {self.recall:.3f} ({self.true_positives}/{self.drawn}), "
                f"within +-{self.tolerance} frames, {len(self.pools)} pools")


def match_frames(detected, truth, *, tolerance: int = TOLERANCE) -> int:
    """How many detected frames match a drawn frame within ``tolerance``, one to one (closest first)."""
    pairs = sorted((abs(d - t), i, j) for i, d in enumerate(detected) for j, t in enumerate(truth)
                   if abs(d - t) <= tolerance)
    used_d, used_t, matched = set(), set(), 0
    for _, i, j in pairs:
        if i not in used_d and j not in used_t:
            used_d.add(i)
            used_t.add(j)
            matched += 1
    return matched


def read_scene(path=None) -> dict:
    """The demo's scene.json (default: ``<data>/demo-movie/scene.json``)."""
    from blasto.demo.write import MOVIE_DIR
    from blasto.store.roots import data_root

    path = Path(path) if path else data_root() / MOVIE_DIR / "scene.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BlastoError(f"{path}: no demo scene (write the demo with `python -m blasto demo data`).") from None
    except json.JSONDecodeError as exc:
        raise BlastoError(f"{path}: not valid JSON ({exc}).") from None


def true_collapse_frames(scene: dict, pool: int) -> list[int]:
    """Drawn collapse start frames of all cells of ``pool``, sorted.

    >>> true_collapse_frames({"cells": [{"pool": 3, "collapse_frames": [40]}, {"pool": 3, "collapse_frames": [9]}]}, 3)
    [9, 40]
    """
    return sorted(int(f) for cell in scene.get("cells", []) if int(cell["pool"]) == int(pool)
                  for f in cell["collapse_frames"])


def validate_events(experiment, *, model=None, pools=None, post=None, settings=None,
                    tolerance: int = TOLERANCE, scene=None, progress=None) -> Validation:
    """Precision and recall of detected collapses on the demo experiment.

    ``model``: a model name or path (predictions are cached as on the Review page), or
    ``"truth"`` to measure the exact truth masks (the detector alone, without the network).
    ``scene``: a scene dict or the path of scene.json (default: the demo's under data/).
    ``progress(done, total)`` follows the pools.
    """
    from blasto.review.areas import PostProcessing, masks_from_probabilities, postprocess
    from blasto.review.events import EventSettings, pool_events

    post = post or PostProcessing()
    settings = settings or EventSettings()
    scene = scene if isinstance(scene, dict) else read_scene(scene)
    pools = list(pools) if pools else experiment.pool_numbers
    if model == "truth":
        source = "truth masks"
    else:
        from blasto.model.files import model_id, resolve_model
        from blasto.review.predictions import predict_pools

        model_path = resolve_model(model or "demo")
        source = f"model {model_id(model_path)}"
        probabilities = predict_pools(experiment, model_path=model_path, pools=pools)
    results = []
    for index, pool in enumerate(pools, start=1):
        if model == "truth":
            truth = experiment.read_truth(pool)
            if truth is None:
                raise BlastoError(f"{experiment.truth_path(pool)}: no truth for pool {pool} (not the demo?).")
            masks = postprocess(truth, fill=post.fill_holes, keep=post.keep, min_size=post.min_size)
        else:
            masks = masks_from_probabilities(np.asarray(probabilities[pool]), post=post)
        detected = pool_events(experiment, pool, masks, settings=settings).collapse_frames()
        true = true_collapse_frames(scene, pool)
        results.append(PoolValidation(pool, tuple(true), tuple(detected),
                                      match_frames(detected, true, tolerance=tolerance)))
        if progress:
            progress(index, len(pools))
    return Validation(source, int(tolerance), tuple(results))
