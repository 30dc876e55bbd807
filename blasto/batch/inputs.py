"""The batch's plate movies: from files, folders and globs to named plates, and job-array shards.

Each argument of ``batch`` is a movie file (GIF, TIFF, MP4/AVI), a folder of numbered frames,
a folder holding several such movies, or a glob (quoted, so the shell does not expand it).
A folder is one movie when it holds only single frames (PNG/JPG, or one-page TIFFs); it is a
folder of movies when it holds GIFs, videos, multi-page TIFFs or subfolders.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path

from blasto.errors import BlastoError
from blasto.movies.folder import FRAME_EXTENSIONS
from blasto.movies.video import VIDEO_EXTENSIONS

#: Extensions of files that are whole movies (a TIFF is one when it has more than one page).
MOVIE_EXTENSIONS = (".gif", ".tif", ".tiff") + tuple(VIDEO_EXTENSIONS)
_TIFF = (".tif", ".tiff")


@dataclass(frozen=True)
class PlateMovie:
    """One plate of the batch: its name (the output folders' name) and its movie."""

    name: str
    movie: str


def _is_multipage_tiff(path: Path) -> bool:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            return len(tif.series[0].shape) > 2 and tif.series[0].shape[0] > 1 or len(tif.pages) > 1
    except Exception:  # unreadable: let it be a movie, so the plate fails by name
        return True


def _movies_in_folder(folder: Path) -> list[Path] | None:
    """The movies inside ``folder``, or None when the folder is itself a movie of frames."""
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    subfolders = [p for p in entries if p.is_dir()]
    files = [p for p in entries if p.is_file()]
    movies = [p for p in files if p.suffix.lower() in MOVIE_EXTENSIONS
              and (p.suffix.lower() not in _TIFF or _is_multipage_tiff(p))]
    if not subfolders and not movies and any(p.suffix.lower() in FRAME_EXTENSIONS for p in files):
        return None
    return subfolders + movies


def find_movies(specs) -> list[Path]:
    """Every movie named by ``specs`` (files, folders, globs), sorted, each once.

    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("b.gif", "a.mp4", "notes.txt"):
    ...     _ = (root / name).write_bytes(b"x")
    >>> [p.name for p in find_movies([str(root)])]
    ['a.mp4', 'b.gif']
    """
    found = []
    for spec in specs:
        spec = str(spec)
        if glob.has_magic(spec):
            matches = sorted(Path(p) for p in glob.glob(spec))
            if not matches:
                raise BlastoError(f"{spec}: no file or folder matches this pattern.")
        else:
            matches = [Path(spec)]
        for path in matches:
            if not path.exists():
                raise BlastoError(f"{path}: no such movie file or folder.")
            inside = _movies_in_folder(path) if path.is_dir() else None
            found.extend([path] if inside is None else inside)
    unique = sorted({p.resolve(): p for p in found}.values(), key=lambda p: str(p.resolve()))
    if not unique:
        raise BlastoError(f"No plate movies in {', '.join(map(str, specs))}.")
    return unique


def plate_name(path: Path) -> str:
    """An experiment-safe name for a plate from its movie's file or folder name.

    >>> plate_name(Path("/x/Plate 3 (day 2).ome.tif"))
    'Plate 3 _day 2_'
    """
    stem = path.name if path.is_dir() else path.name.split(".")[0] or path.stem
    cleaned = re.sub(r"[^A-Za-z0-9 _.\-]", "_", stem).strip(" .") or "plate"
    if not cleaned[0].isalnum():
        cleaned = "p" + cleaned
    return cleaned[:64]


def name_plates(movies) -> list[PlateMovie]:
    """Each movie with a distinct plate name (the parent folder's name is added on a clash).

    >>> [p.name for p in name_plates([Path("/a/day1/plate.tif"), Path("/a/day2/plate.tif")])]
    ['day1_plate', 'day2_plate']
    """
    movies = [Path(m) for m in movies]
    names = [plate_name(m) for m in movies]
    clashes = {n for n in names if names.count(n) > 1}
    named = [plate_name(Path(f"{m.parent.name}_{m.name}")) if n in clashes else n for m, n in zip(movies, names)]
    seen: dict[str, int] = {}
    plates = []
    for movie, name in zip(movies, named):
        seen[name] = seen.get(name, 0) + 1
        plates.append(PlateMovie(name if seen[name] == 1 else f"{name}-{seen[name]}", str(movie)))
    return plates


def parse_shard(text: str | None, *, environ=None) -> tuple[int, int] | None:
    """(K, N) from ``--shard K/N`` (K from 0 to N-1), else from a SLURM job array, else None.

    In a SLURM array (``sbatch --array=0-3``) each task takes shard
    ``SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN`` of ``SLURM_ARRAY_TASK_COUNT``.

    >>> parse_shard("1/4")
    (1, 4)
    >>> parse_shard(None, environ={"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "5",
    ...                            "SLURM_ARRAY_TASK_COUNT": "3"})
    (2, 3)
    >>> parse_shard(None, environ={})
    """
    environ = os.environ if environ is None else environ
    if text is None:
        if "SLURM_ARRAY_TASK_ID" not in environ or "SLURM_ARRAY_TASK_COUNT" not in environ:
            return None
        try:
            index = int(environ["SLURM_ARRAY_TASK_ID"]) - int(environ.get("SLURM_ARRAY_TASK_MIN", 0))
            count = int(environ["SLURM_ARRAY_TASK_COUNT"])
        except ValueError:
            raise BlastoError("SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT are not numbers.") from None
        text = f"{index}/{count}"
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 0 <= int(match[1]) < int(match[2]):
        raise BlastoError(f"Shard {text!r} is not K/N with 0 <= K < N (e.g. 0/4 for the first of 4).")
    return int(match[1]), int(match[2])


def take_shard(plates: list, shard: tuple[int, int] | None) -> list:
    """The plates of shard K of N: every Nth plate of the sorted list, from the Kth.

    >>> take_shard(list("abcde"), (1, 2))
    ['b', 'd']
    """
    if shard is None:
        return list(plates)
    index, count = shard
    return list(plates)[index::count]
