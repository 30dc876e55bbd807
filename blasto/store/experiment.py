"""The experiment store: one folder under ``data/`` per experiment.

Layout (documented in the README)::

    data/<name>/
        manifest.json                 schema version, source movie, grid, pools, background, split
        pools/pool01/raw.tif          cropped pool movie, (T, H, W) uint8, uncleaned
        pools/pool01/clean.tif        the same after the background flood fill
        pools/pool01/masks/frame0015.png     hand mask, black = cell (the lab's convention)
        pools/pool01/strokes/frame0015.json  the canvas drawing behind that mask (Annotate page)
        pools/pool01/truth.tif        exact ground truth (demo only), (T, H, W) uint8, 255 = cell
        measurements/pool01.csv       manual area measurements
        predictions/<model>/pool01.npy       cached cell probabilities, (T, H, W) uint8 (0-255)

One small API, used by the pages and the command line alike: :func:`list_experiments`,
:func:`create_experiment`, :func:`open_experiment`, :func:`delete_experiment`.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import shutil
from pathlib import Path

import numpy as np

from blasto.store import atomic
from blasto.errors import ExperimentError, MaskError
from blasto.masks import decode_lab_mask, encode_lab_mask
from blasto.store.roots import data_root

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}$")
_MASK_NAME = re.compile(r"^frame(\d{4,})\.png$")


def validate_name(name: str) -> str:
    """Return ``name`` stripped, or raise :class:`ExperimentError` saying what is wrong.

    Letters, digits, space, ``_ . -``; starts with a letter or digit; at most 64 characters.

    >>> validate_name("plate 2026-11-27")
    'plate 2026-11-27'
    >>> validate_name("../etc")
    Traceback (most recent call last):
    ...
    blasto.errors.ExperimentError: Experiment name '../etc' is not allowed: ...
    """
    cleaned = (name or "").strip()
    if not cleaned:
        raise ExperimentError("Experiment name is empty: give the experiment a name.")
    problem = None
    if "/" in cleaned or "\\" in cleaned:
        problem = "it contains a path separator"
    elif ".." in cleaned:
        problem = "it contains '..'"
    elif cleaned.startswith("."):
        problem = "hidden names (starting with '.') are not allowed"
    elif not _NAME.match(cleaned):
        problem = (
            "use letters, digits, spaces, '_', '.' or '-', start with a letter or digit, "
            "at most 64 characters"
        )
    if problem:
        raise ExperimentError(f"Experiment name {name!r} is not allowed: {problem}.")
    return cleaned


#: The two sides of the split; imported annotations keep theirs.
SIDES = ("train", "validation")
DEFAULT_SIZE = 256  # working size of a pool movie, pixels


def default_manifest(name: str) -> dict:
    """A manifest with every key present and nothing measured yet."""
    return {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        # The movie this experiment was cropped from: path, frame count, size, interval.
        "source": None,
        # rows, cols and the outer margins (source pixels) of the pool grid.
        "grid": None,
        # Working size of each pool movie (square, pixels).
        "size": DEFAULT_SIZE,
        # One entry per pool: number (from 1), box [top, left, bottom, right] in source pixels.
        "pools": [],
        "background": {"tolerance": None, "fill_value": None, "cleaned": False},
        "split": {"train": [], "validation": []},
        "annotation": {"every": 15, "added": {}, "removed": {}},
        "frame_interval_s": None,
        "pixel_size_um": None,
        "notes": "",
    }


def list_experiments(*, root=None) -> list[str]:
    """Names of the experiments under ``root`` (default ``data/``), sorted."""
    root = Path(root) if root else data_root()
    if not root.is_dir():
        return []
    return sorted(
        p.name for p in root.iterdir() if p.is_dir() and (p / MANIFEST).is_file()
    )


def create_experiment(name: str, *, root=None, exist_ok=False, size=None) -> "Experiment":
    """Create an empty experiment folder with a default manifest (``size``: the working size
    of its pool frames, if not the default)."""
    name = validate_name(name)
    root = Path(root) if root else data_root()
    path = root / name
    if (path / MANIFEST).exists():
        if exist_ok:
            return Experiment(path)
        raise ExperimentError(f"An experiment called {name!r} already exists in {root}.")
    path.mkdir(parents=True, exist_ok=True)
    manifest = default_manifest(name)
    if size is not None:
        manifest["size"] = int(size)
    atomic.write_json(path / MANIFEST, manifest)
    return Experiment(path)


def open_experiment(name: str, *, root=None) -> "Experiment":
    """Open an existing experiment, or raise :class:`ExperimentError`."""
    name = validate_name(name)
    root = Path(root) if root else data_root()
    path = root / name
    if not (path / MANIFEST).is_file():
        known = ", ".join(list_experiments(root=root)) or "none"
        raise ExperimentError(f"No experiment called {name!r} in {root} (known: {known}).")
    return Experiment(path)


def delete_experiment(name: str, *, root=None) -> None:
    """Delete an experiment folder and everything in it."""
    experiment = open_experiment(name, root=root)
    shutil.rmtree(experiment.path)


class Experiment:
    """One experiment folder. Cheap to create; reads files on demand."""

    def __init__(self, path):
        self.path = Path(path)
        self.name = self.path.name
        self.manifest = self._read_manifest()

    def __repr__(self):
        return f"Experiment({str(self.path)!r})"

    # -- manifest -----------------------------------------------------------------------
    def _read_manifest(self) -> dict:
        file = self.path / MANIFEST
        try:
            manifest = json.loads(file.read_text())
        except FileNotFoundError:
            raise ExperimentError(f"{file}: the experiment has no manifest.") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ExperimentError(f"{file}: the manifest is not valid JSON ({exc}).") from None
        if manifest.get("schema_version", 0) > SCHEMA_VERSION:
            raise ExperimentError(
                f"{file}: written by a newer blasto (schema {manifest['schema_version']})."
            )
        merged = default_manifest(self.name)
        merged.update(manifest)
        return merged

    @property
    def size(self) -> int:
        """Working size of the pool frames (square, pixels)."""
        return int(self.manifest.get("size") or DEFAULT_SIZE)

    def save_manifest(self) -> None:
        """Write the manifest atomically."""
        atomic.write_json(self.path / MANIFEST, self.manifest)

    def reload(self) -> None:
        self.manifest = self._read_manifest()

    # -- pools --------------------------------------------------------------------------
    @property
    def pool_numbers(self) -> list[int]:
        """Pool numbers (from 1) that have a pool movie on disk."""
        return [p["number"] for p in self.manifest["pools"] if self.pool_movie_path(p["number"]).exists()]

    def pool_dir(self, pool: int) -> Path:
        return self.path / "pools" / f"pool{int(pool):02d}"

    def pool_movie_path(self, pool: int, *, cleaned: bool | None = None) -> Path:
        """Path of a pool movie: the cleaned one if it exists (or is asked for), else raw."""
        folder = self.pool_dir(pool)
        if cleaned is None:
            clean = folder / "clean.tif"
            return clean if clean.exists() else folder / "raw.tif"
        return folder / ("clean.tif" if cleaned else "raw.tif")

    def read_pool_movie(self, pool: int, *, cleaned: bool | None = None) -> np.ndarray:
        """The pool's movie as a (T, H, W) uint8 array (memory-mapped, read-only)."""
        import tifffile

        path = self.pool_movie_path(pool, cleaned=cleaned)
        if not path.exists():
            raise ExperimentError(f"{path}: pool {pool} has no {'cleaned ' if cleaned else ''}movie.")
        try:
            return tifffile.memmap(path, mode="r")
        except ValueError:  # not memory-mappable (compressed): read it whole
            return tifffile.imread(path)

    def write_pool_movie(self, pool: int, frames: np.ndarray, *, cleaned: bool) -> None:
        """Write a pool movie atomically."""
        atomic.write_tiff(self.pool_movie_path(pool, cleaned=cleaned), np.asarray(frames, np.uint8))

    def n_frames(self, pool: int | None = None) -> int:
        """Number of frames of a pool movie (all pools have the same)."""
        if pool is None:
            numbers = self.pool_numbers
            if not numbers:
                return 0
            pool = numbers[0]
        return int(self.read_pool_movie(pool).shape[0])

    # -- masks --------------------------------------------------------------------------
    def mask_path(self, pool: int, frame: int) -> Path:
        return self.pool_dir(pool) / "masks" / f"frame{int(frame):04d}.png"

    def strokes_path(self, pool: int, frame: int) -> Path:
        return self.pool_dir(pool) / "strokes" / f"frame{int(frame):04d}.json"

    def annotated_frames(self, pool: int) -> list[int]:
        """Frames of ``pool`` that have a saved mask, sorted."""
        folder = self.pool_dir(pool) / "masks"
        if not folder.is_dir():
            return []
        frames = []
        for file in folder.iterdir():
            match = _MASK_NAME.match(file.name)
            if match:
                frames.append(int(match.group(1)))
        return sorted(frames)

    def read_mask(self, pool: int, frame: int) -> np.ndarray | None:
        """The saved mask of a frame as bool (True = cell), or None if there is none."""
        from PIL import Image

        path = self.mask_path(pool, frame)
        if not path.exists():
            return None
        try:
            with Image.open(path) as image:
                return decode_lab_mask(np.asarray(image.convert("L")), source=str(path))
        except OSError as exc:
            raise MaskError(f"{path}: cannot read the mask ({exc}).") from None

    def write_mask(self, pool: int, frame: int, cell: np.ndarray) -> Path:
        """Save a frame's mask as the lab's PNG (black = cell), atomically."""
        cell = np.asarray(cell, dtype=bool)
        size = self.manifest.get("size")
        if size and cell.shape != (size, size):
            raise MaskError(
                f"Mask for pool {pool}, frame {frame} is {cell.shape[1]}x{cell.shape[0]} pixels; "
                f"this experiment's pool frames are {size}x{size}."
            )
        path = self.mask_path(pool, frame)
        atomic.write_png(path, encode_lab_mask(cell))
        return path

    def delete_mask(self, pool: int, frame: int) -> None:
        for path in (self.mask_path(pool, frame), self.strokes_path(pool, frame)):
            path.unlink(missing_ok=True)

    # -- annotations imported from the lab's train/ and validation/ folders -----------------
    # They are frames without a pool movie, so they live beside the pools and keep their side.
    def imported_dir(self, side: str) -> Path:
        if side not in SIDES:
            raise ExperimentError(f"Unknown side {side!r}: use 'train' or 'validation'.")
        return self.path / "imported" / side

    def imported_pairs(self, side: str) -> list[tuple[Path, Path]]:
        """(image, mask) PNG paths of imported annotations on ``side``, in import order."""
        folder = self.imported_dir(side)
        if not folder.is_dir():
            return []
        pairs = ((i, i.with_name(i.name.replace("image", "mask", 1)))
                 for i in sorted(folder.glob("image*.png")))
        return [(image, mask) for image, mask in pairs if mask.exists()]

    @staticmethod
    def read_imported_pair(image_path, mask_path) -> tuple[np.ndarray, np.ndarray]:
        """One imported pair from :meth:`imported_pairs`: (uint8 gray image, bool mask)."""
        from PIL import Image

        try:
            with Image.open(image_path) as file:
                image = np.asarray(file.convert("L"), np.uint8)
            with Image.open(mask_path) as file:
                mask = decode_lab_mask(np.asarray(file.convert("L")), source=str(mask_path))
        except OSError as exc:
            raise MaskError(f"{Path(image_path).parent}: cannot read an imported pair ({exc}).") from None
        return image, mask

    def write_imported_pair(self, side: str, index: int, image: np.ndarray, cell: np.ndarray) -> None:
        """Store one imported pair: the image (uint8 gray) and its mask (lab PNG, black = cell).

        The mask is written first and the image last, so a half-written pair is never listed.
        """
        folder = self.imported_dir(side)
        atomic.write_png(folder / f"mask{index:04d}.png", encode_lab_mask(cell))
        atomic.write_png(folder / f"image{index:04d}.png", np.asarray(image, np.uint8))

    # -- split --------------------------------------------------------------------------
    def split_of(self, pool: int) -> str | None:
        """'train', 'validation' or None for a pool number."""
        split = self.manifest["split"]
        if pool in split.get("train", []):
            return "train"
        if pool in split.get("validation", []):
            return "validation"
        return None

    def set_split(self, train, validation) -> None:
        """Set the train/validation split by pool; a pool on both sides is refused."""
        train, validation = sorted({int(p) for p in train}), sorted({int(p) for p in validation})
        both = set(train) & set(validation)
        if both:
            raise ExperimentError(
                f"Pools {sorted(both)} are on both the train and the validation side; "
                "a pool's frames must all be on one side."
            )
        self.manifest["split"] = {"train": train, "validation": validation}
        self.save_manifest()

    # -- summary ------------------------------------------------------------------------
    def summary(self) -> dict:
        """What the experiment holds, for the home page and ``python -m blasto list``."""
        pools = self.pool_numbers
        annotated = {p: len(self.annotated_frames(p)) for p in pools}
        predictions = self.path / "predictions"
        return {
            "name": self.name,
            "pools": len(pools),
            "frames": self.n_frames() if pools else 0,
            "annotated_frames": sum(annotated.values()),
            "train_pools": len(self.manifest["split"].get("train", [])),
            "validation_pools": len(self.manifest["split"].get("validation", [])),
            "cleaned": bool(self.manifest["background"].get("cleaned")),
            "predictions": sorted(p.name for p in predictions.iterdir()) if predictions.is_dir() else [],
            "source": (self.manifest.get("source") or {}).get("path"),
        }
