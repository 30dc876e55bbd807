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
