"""Movies on the server: the plate movies under ``data/``, and uploads kept there.

An upload is kept in ``data/uploads/`` under a safe name and checked by its content (it must
open as a movie); anything else is removed again and refused with the reason.
"""

from __future__ import annotations

import re
from pathlib import Path

from blasto.errors import MovieError
from blasto.movies import VIDEO_EXTENSIONS, open_movie
from blasto.store import atomic
from blasto.store.roots import is_allowed

#: File endings offered for plate movies.
MOVIE_SUFFIXES = (".gif", ".tif", ".tiff") + VIDEO_EXTENSIONS
#: How deep under ``data/`` movies are looked for (``data/uploads/x.gif`` is 2 deep).
MAX_DEPTH = 3


def movies_under(root) -> list[Path]:
    """Movie files under ``root`` (uploads and movies copied there), not inside experiments
    (their pool movies) nor hidden folders, at most :data:`MAX_DEPTH` levels down, sorted.

    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ["a/plate.gif", "exp/pools/pool01/raw.tif", "exp/manifest.json", ".hidden/b.tif"]:
    ...     (root / name).parent.mkdir(parents=True, exist_ok=True); _ = (root / name).write_text("x")
    >>> [str(p.relative_to(root)) for p in movies_under(root)]
    ['a/plate.gif']
    """
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if len(relative.parts) > MAX_DEPTH or any(p.startswith(".") for p in relative.parts):
            continue
        if (root / relative.parts[0] / "manifest.json").exists():
            continue  # inside an experiment
        # A symlink out of ``root`` (and of the allowed folders) is not offered.
        inside = path.resolve().is_relative_to(root.resolve()) or is_allowed(path)
        if path.is_file() and path.suffix.lower() in MOVIE_SUFFIXES and inside:
            found.append(path)
    return found


def safe_file_name(name: str) -> str:
    """A file name safe to keep on the server: letters, digits, ``_ . -``, at most 60 characters
    before the (lower-cased) extension.

    >>> safe_file_name("../../Plate 3 (day 2).GIF")
    'Plate_3_day_2.gif'
    """
    path = Path(str(name).replace("\\", "/")).name
    stem, suffix = Path(path).stem, Path(path).suffix.lower()
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._") or "movie"
    return f"{stem[:60]}{suffix}"


def save_upload(name: str, data: bytes, *, root) -> Path:
    """Keep an uploaded movie as ``root/uploads/<safe name>`` (atomically) and return its path;
    refuse, removing it again, what does not open as a movie. The same upload twice is kept
    once."""
    target = Path(root) / "uploads" / safe_file_name(name)
    if not (target.exists() and target.read_bytes() == data):
        atomic.write_bytes(target, data)
    try:
        with open_movie(target):
            pass
    except MovieError as exc:
        target.unlink(missing_ok=True)
        raise MovieError(f"The upload {name!r} cannot be used: {str(exc).split(': ', 1)[-1]}") from None
    return target
