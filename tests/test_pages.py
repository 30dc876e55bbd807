"""The pages are thin and importable: a test can import each one (its main() only runs under
`streamlit run`), and the helpers they used to hold live in the package, tested here."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from blasto.errors import MovieError
from blasto.movies import library
from blasto.prepare.grid import draw_grid
from blasto.prepare.split import plate_map
from blasto.store.manifest import Grid, Split

REPO = Path(__file__).resolve().parent.parent
PAGES = sorted((REPO / "pages").glob("*.py")) + [REPO / "app.py"]


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_a_page_imports_without_running(path, monkeypatch):
    spec = importlib.util.spec_from_file_location(f"page_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)  # would draw widgets if main() ran on import
    assert callable(module.main)


def test_save_upload_keeps_a_movie_under_a_safe_name_and_refuses_the_rest(tmp_path):
    import tifffile

    movie = tmp_path / "m.tif"
    tifffile.imwrite(movie, np.zeros((3, 8, 8), np.uint8))
    kept = library.save_upload("../../My plate (1).TIF", movie.read_bytes(), root=tmp_path / "data")
    assert kept == tmp_path / "data" / "uploads" / "My_plate_1.tif"
    assert library.movies_under(tmp_path / "data") == [kept]
    # Judged by content, not by name: a text file called .gif is refused and not kept.
    with pytest.raises(MovieError, match="notes.gif.*cannot be used"):
        library.save_upload("notes.gif", b"just text", root=tmp_path / "data")
    assert not (tmp_path / "data" / "uploads" / "notes.gif").exists()


def test_draw_grid_marks_every_box():
    frame = np.full((400, 400), 50, np.uint8)
    picture = draw_grid(frame, Grid(4, 4, 0, 0, 400, 400), width=200)
    assert picture.shape == (200, 200, 3)
    yellow = (picture[..., 0] > 200) & (picture[..., 1] > 150) & (picture[..., 2] < 80)
    for cut in (0, 50, 100, 150):  # a box edge at each cut of the 4x4 grid
        assert yellow[:, cut].mean() > 0.9 and yellow[cut, :].mean() > 0.9


def test_plate_map_colours_pools_by_side():
    text = plate_map(Split(train=[1, 2], validation=[16]), list(range(1, 17)))
    assert text.count(":blue[") == 2 and text.count(":orange[") == 1
    assert "| 3 - |" in text and len(text.splitlines()) == 6  # a header, a rule, 4 rows
