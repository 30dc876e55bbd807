"""Where experiments and models live.

``BLASTO_DATA`` and ``BLASTO_MODELS`` override the repository's ``data/`` and ``models/``
folders; the tests point them at temporary folders.
"""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def data_root() -> Path:
    """Folder holding one sub-folder per experiment."""
    return Path(os.environ.get("BLASTO_DATA", REPO_ROOT / "data"))


def models_root() -> Path:
    """Folder holding one sub-folder per training run (and the shipped ``demo`` model)."""
    return Path(os.environ.get("BLASTO_MODELS", REPO_ROOT / "models"))


#: The setting (an environment variable) naming folders besides the data folder that the
#: app may read movies and lab folders from, or export to: absolute paths separated by
#: ``os.pathsep`` (``:`` on Linux and macOS).
EXTRA_ROOTS_SETTING = "BLASTO_EXTRA_ROOTS"


def allowed_roots() -> list[Path]:
    """The folders a path typed into the app may lie in: the data folder, then those of
    :data:`EXTRA_ROOTS_SETTING` (relative entries are ignored), symlinks resolved."""
    extra = [Path(p) for p in os.environ.get(EXTRA_ROOTS_SETTING, "").split(os.pathsep) if p.strip()]
    roots = [data_root()] + [p for p in extra if p.is_absolute()]
    return list(dict.fromkeys(p.resolve() for p in roots))


def is_allowed(path) -> bool:
    """Whether ``path`` (symlinks resolved) lies inside one of :func:`allowed_roots`."""
    resolved = Path(path).resolve()
    return any(resolved.is_relative_to(root) for root in allowed_roots())


def fenced_path(text) -> Path:
    """The server path a user typed, refused unless it stays inside :func:`allowed_roots`.

    A relative path is taken inside the data folder; ``..`` is refused outright; symlinks are
    resolved, so one pointing out of the allowed folders is refused like an absolute path
    elsewhere. Returns the resolved path. The pages' path inputs go through here, so the app
    never reads or writes where the person serving it did not allow.

    >>> fenced_path("plates/p1.tif") == data_root().resolve() / "plates" / "p1.tif"
    True
    >>> fenced_path("/etc")
    Traceback (most recent call last):
    ...
    blasto.errors.BlastoError: /etc: outside the folders the app may use on this server ...
    """
    from blasto.errors import BlastoError

    text = str(text).strip()
    if not text:
        raise BlastoError("Type a path first.")
    path = Path(text)
    if ".." in path.parts:
        raise BlastoError(f"{text}: a path with '..' is not accepted; type the folder's own path.")
    resolved = (path if path.is_absolute() else data_root() / path).resolve()
    if not any(resolved.is_relative_to(root) for root in allowed_roots()):
        roots = ", ".join(str(r) for r in allowed_roots())
        raise BlastoError(
            f"{text}: outside the folders the app may use on this server ({roots}); put it "
            f"under {data_root()}, or add its folder to the {EXTRA_ROOTS_SETTING} setting "
            f"(absolute paths separated by '{os.pathsep}') before starting the app.")
    return resolved
