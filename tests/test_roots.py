"""Server paths typed into the app are fenced: inside the data folder or a configured extra root."""

from __future__ import annotations

import os

import pytest

from blasto.errors import BlastoError
from blasto.movies import library
from blasto.store.roots import EXTRA_ROOTS_SETTING, allowed_roots, fenced_path


def test_relative_paths_land_in_the_data_folder_and_dot_dot_is_refused(roots):
    data, _ = roots
    assert fenced_path("plates/p1.tif") == data.resolve() / "plates" / "p1.tif"
    assert fenced_path(f"  {data / 'demo'}  ") == data.resolve() / "demo"
    for text in ("../outside", f"{data}/../outside", "a/../../b"):
        with pytest.raises(BlastoError, match="'..' is not accepted"):
            fenced_path(text)
    with pytest.raises(BlastoError, match="Type a path"):
        fenced_path(" ")


def test_absolute_paths_elsewhere_are_refused_naming_the_setting(roots, tmp_path, monkeypatch):
    elsewhere = tmp_path / "lab share"
    elsewhere.mkdir()
    monkeypatch.delenv(EXTRA_ROOTS_SETTING, raising=False)
    with pytest.raises(BlastoError, match=f"outside the folders.*{EXTRA_ROOTS_SETTING}"):
        fenced_path(elsewhere / "train")
    with pytest.raises(BlastoError, match="outside"):
        fenced_path("/etc/passwd")
    # The setting allows more folders (relative entries ignored).
    monkeypatch.setenv(EXTRA_ROOTS_SETTING, os.pathsep.join([str(elsewhere), "relative/x", ""]))
    assert allowed_roots() == [roots[0].resolve(), elsewhere.resolve()]
    assert fenced_path(elsewhere / "train") == elsewhere.resolve() / "train"
    with pytest.raises(BlastoError, match="outside"):
        fenced_path(tmp_path / "lab share 2")  # a sibling with a longer name is not inside


def test_symlinks_out_of_the_data_folder_are_refused_and_not_listed(roots, tmp_path):
    data, _ = roots
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.gif").write_bytes(b"GIF89a")
    (data / "plates").mkdir()
    (data / "plates" / "own.gif").write_bytes(b"GIF89a")
    (data / "link").symlink_to(outside, target_is_directory=True)
    (data / "plates" / "linked.gif").symlink_to(outside / "secret.gif")
    (data / "plates" / "inner.gif").symlink_to(data / "plates" / "own.gif")
    for text in ("link/secret.gif", str(data / "plates" / "linked.gif"), "link"):
        with pytest.raises(BlastoError, match="outside"):
            fenced_path(text)
    assert fenced_path("plates/inner.gif") == (data / "plates" / "own.gif").resolve()
    listed = [p.relative_to(data).as_posix() for p in library.movies_under(data)]
    assert listed == ["plates/inner.gif", "plates/own.gif"]


def test_uploads_are_judged_by_content_not_by_name(roots):
    import io

    import numpy as np
    from PIL import Image

    data, _ = roots
    with pytest.raises(BlastoError, match="cannot be used"):
        library.save_upload("plate.tif", b"II*\x00 not really a tiff", root=data)
    frames = [Image.fromarray(np.full((8, 8), v, np.uint8)) for v in (0, 128, 255)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    kept = library.save_upload("named wrongly.avi", buffer.getvalue(), root=data)  # a GIF inside
    assert kept.exists() and kept.parent == data / "uploads"
    assert not [p for p in (data / "uploads").iterdir() if p.name == "plate.tif"]
