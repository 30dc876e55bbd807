"""The experiment store: one folder under ``data/`` per experiment.

Layout (documented in the README)::

    data/<name>/
        manifest.json                 the typed Manifest (blasto.store.manifest)
        pools/pool01/raw.tif          cropped pool movie, (T, H, W) uint8, uncleaned
        pools/pool01/clean.tif        the same after the background flood fill
        pools/pool01/masks/frame0015.png     hand mask, black = cell (the lab's convention)
        pools/pool01/strokes/frame0015.json  the strokes behind that mask and who made it (Annotate)
        pools/pool01/truth.tif        exact ground truth (demo only), (T, H, W) uint8, 255 = cell
        imported/train/image0001.png  a pair imported from the lab's folders (with mask0001.png;
                                      strokes/pair0001.json once it is edited in Draw)
        measurements/pool01.csv       manual area measurements
        predictions/<model>/pool01.npy       cached cell probabilities, (T, H, W) uint8 (0-255)

:class:`Experiment` owns its folder: every path inside it is built by one of its methods, and
the manifest is read and written only through it. One small API, used by the pages and the
command line alike: :func:`list_experiments`, :func:`create_experiment`,
:func:`open_experiment`, :func:`delete_experiment`; everything else takes an :class:`Experiment`.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from blasto.store import atomic
from blasto.errors import ExperimentError, MaskError
from blasto.masks import decode_lab_mask, encode_lab_mask
from blasto.store.manifest import DEFAULT_SIZE, SIDES, Manifest
from blasto.store.roots import data_root

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
    manifest = Manifest.new(name, size=DEFAULT_SIZE if size is None else int(size))
    atomic.write_json(path / MANIFEST, manifest.to_dict())
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
    """One experiment folder: its manifest and every file in it. Cheap to create; reads files
    on demand."""

    def __init__(self, path):
        self.path = Path(path)
        self.name = self.path.name
        self.manifest = self._read_manifest()

    def __repr__(self):
        return f"Experiment({str(self.path)!r})"

    # -- manifest -----------------------------------------------------------------------
    def _read_manifest(self) -> Manifest:
        file = self.path / MANIFEST
        try:
            values = json.loads(file.read_text())
        except FileNotFoundError:
            raise ExperimentError(f"{file}: the experiment has no manifest.") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ExperimentError(f"{file}: the manifest is not valid JSON ({exc}).") from None
        return Manifest.from_dict(values, source=str(file), name=self.name)

    @property
    def size(self) -> int:
        """Working size of the pool frames (square, pixels)."""
        return self.manifest.size

    def save_manifest(self) -> None:
        """Write the manifest atomically (in the current schema)."""
        atomic.write_json(self.path / MANIFEST, self.manifest.to_dict())

    def reload(self) -> None:
        self.manifest = self._read_manifest()

    # -- paths: the one place that knows the layout --------------------------------------
    def pool_dir(self, pool: int) -> Path:
        return self.path / "pools" / f"pool{int(pool):02d}"

    def pool_movie_path(self, pool: int, *, cleaned: bool | None = None) -> Path:
        """Path of a pool movie: the cleaned one if it exists (or is asked for), else raw."""
        folder = self.pool_dir(pool)
        if cleaned is None:
            clean = folder / "clean.tif"
            return clean if clean.exists() else folder / "raw.tif"
        return folder / ("clean.tif" if cleaned else "raw.tif")

    def truth_path(self, pool: int) -> Path:
        """A pool's exact ground truth (the demo has one): (T, H, W) uint8, 255 = cell."""
        return self.pool_dir(pool) / "truth.tif"

    def mask_path(self, pool: int, frame: int) -> Path:
        return self.pool_dir(pool) / "masks" / f"frame{int(frame):04d}.png"

    def strokes_path(self, pool: int, frame: int) -> Path:
        return self.pool_dir(pool) / "strokes" / f"frame{int(frame):04d}.json"

    def imported_dir(self, side: str) -> Path:
        """Pairs imported from the lab's folders: frames without a pool movie, kept by side."""
        if side not in SIDES:
            raise ExperimentError(f"Unknown side {side!r}: use 'train' or 'validation'.")
        return self.path / "imported" / side

    def imported_image_path(self, side: str, index: int) -> Path:
        return self.imported_dir(side) / f"image{int(index):04d}.png"

    def imported_mask_path(self, side: str, index: int) -> Path:
        return self.imported_dir(side) / f"mask{int(index):04d}.png"

    def imported_strokes_path(self, side: str, index: int) -> Path:
        """The strokes file of an imported pair's mask edited in Draw (with its provenance)."""
        return self.imported_dir(side) / "strokes" / f"pair{int(index):04d}.json"

    def measurements_path(self, pool: int) -> Path:
        """A pool's manual area measurements (CSV: frame, area)."""
        return self.path / "measurements" / f"pool{int(pool):02d}.csv"

    def predictions_dir(self, model: str | None = None) -> Path:
        """Cached predictions: of one model (by its id), or the folder of all of them."""
        folder = self.path / "predictions"
        return folder / model if model else folder

    def prediction_path(self, model: str, pool: int) -> Path:
        """One model's cached P(cell) of one pool (``.npy``; its ``.json`` sidecar beside it)."""
        return self.predictions_dir(model) / f"pool{int(pool):02d}.npy"

    # -- pools --------------------------------------------------------------------------
    @property
    def pool_numbers(self) -> list[int]:
        """Pool numbers (from 1) that have a pool movie on disk."""
        return [p.number for p in self.manifest.pools if self.pool_movie_path(p.number).exists()]

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

    def read_truth(self, pool: int) -> np.ndarray | None:
        """A pool's exact ground truth (the demo's) as (T, H, W) bool, or None without one."""
        import tifffile

        path = self.truth_path(pool)
        return tifffile.imread(path) > 127 if path.exists() else None

    def n_frames(self, pool: int | None = None) -> int:
        """Number of frames of a pool movie (all pools have the same)."""
        if pool is None:
            numbers = self.pool_numbers
            if not numbers:
                return 0
            pool = numbers[0]
        return int(self.read_pool_movie(pool).shape[0])

    # -- masks --------------------------------------------------------------------------
    def annotated_frames(self, pool: int) -> list[int]:
        """Frames of ``pool`` that have a saved mask, sorted."""
        folder = self.mask_path(pool, 0).parent
        if not folder.is_dir():
            return []
        return sorted(int(m.group(1)) for m in map(_MASK_NAME.match, (f.name for f in folder.iterdir())) if m)

    def read_mask(self, pool: int, frame: int) -> np.ndarray | None:
        """The saved mask of a frame as bool (True = cell), or None if there is none."""
        path = self.mask_path(pool, frame)
        if not path.exists():
            return None
        return _read_lab_mask(path)

    def write_mask(self, pool: int, frame: int, cell: np.ndarray) -> Path:
        """Save a frame's mask as the lab's PNG (black = cell), atomically."""
        cell = np.asarray(cell, dtype=bool)
        size = self.size
        if cell.shape != (size, size):
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
        except OSError as exc:
            raise MaskError(f"{Path(image_path).parent}: cannot read an imported pair ({exc}).") from None
        return image, _read_lab_mask(mask_path)

    def write_imported_pair(self, side: str, index: int, image: np.ndarray, cell: np.ndarray) -> None:
        """Store one imported pair: the image (uint8 gray) and its mask (lab PNG, black = cell).

        The mask is written first and the image last, so a half-written pair is never listed.
        """
        atomic.write_png(self.imported_mask_path(side, index), encode_lab_mask(cell))
        atomic.write_png(self.imported_image_path(side, index), np.asarray(image, np.uint8))

    # -- split --------------------------------------------------------------------------
    def set_split(self, train, validation) -> None:
        """Set the train/validation split by pool; a pool on both sides is refused."""
        train, validation = sorted({int(p) for p in train}), sorted({int(p) for p in validation})
        both = set(train) & set(validation)
        if both:
            raise ExperimentError(
                f"Pools {sorted(both)} are on both the train and the validation side; "
                "a pool's frames must all be on one side."
            )
        self.manifest.split.train, self.manifest.split.validation = train, validation
        self.save_manifest()

    # -- summary ------------------------------------------------------------------------
    def summary(self) -> "ExperimentSummary":
        """What the experiment holds, for the home page, Train and ``python -m blasto list``."""
        pools, split = self.pool_numbers, self.manifest.split
        hand = {p: len(self.annotated_frames(p)) for p in pools}
        imported = {side: len(self.imported_pairs(side)) for side in SIDES}
        per_side = {side: sum(n for p, n in hand.items() if split.side_of(p) == side) + imported[side]
                    for side in SIDES}
        predictions = self.predictions_dir()
        return ExperimentSummary(
            name=self.name, pools=len(pools), frames=self.n_frames() if pools else 0,
            hand_masks=sum(hand.values()), imported_pairs=sum(imported.values()),
            train_pools=len(split.train), validation_pools=len(split.validation),
            train_frames=per_side["train"], validation_frames=per_side["validation"],
            cleaned=self.manifest.background.cleaned,
            predictions=sorted(p.name for p in predictions.iterdir()) if predictions.is_dir() else [],
            source=self.manifest.source.path if self.manifest.source else None,
        )


@dataclass(frozen=True)
class ExperimentSummary:
    """What an experiment holds. ``train_frames``/``validation_frames`` count every annotated
    frame on that side: hand masks of its pools and imported lab pairs."""

    name: str
    pools: int
    frames: int
    hand_masks: int
    imported_pairs: int
    train_pools: int
    validation_pools: int
    train_frames: int
    validation_frames: int
    cleaned: bool
    predictions: list[str]
    source: str | None

    @property
    def annotated_frames(self) -> int:
        """Every frame with a mask: drawn here or imported."""
        return self.hand_masks + self.imported_pairs

    def describe(self) -> str:
        """One line, as ``python -m blasto list`` prints it.

        >>> ExperimentSummary("lab", 0, 0, 0, 160, 0, 0, 80, 80, False, [], None).describe()
        'lab: 0 pools, 0 frames, 160 annotated frames (160 imported), 80 train / 80 validation frames'
        """
        imported = f" ({self.imported_pairs} imported)" if self.imported_pairs else ""
        return (f"{self.name}: {self.pools} pools, {self.frames} frames, {self.annotated_frames} "
                f"annotated frames{imported}, {self.train_frames} train / "
                f"{self.validation_frames} validation frames")


def _read_lab_mask(path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return decode_lab_mask(np.asarray(image.convert("L")), source=str(path))
    except OSError as exc:
        raise MaskError(f"{path}: cannot read the mask ({exc}).") from None
