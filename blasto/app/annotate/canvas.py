"""The Draw step's drawing surface: blasto's own Streamlit bidirectional component
(``st.components.v2``: inline HTML/JS/CSS from canvas.js and canvas.css beside this file, no
build step).

The surface shows the frame with the mask on top, zooms (1x-6x, wheel or +/-) and pans
(space+drag, middle or right drag), and has the one toolbar: Outline, Brush, Polygon, Erase,
brush size, zoom, brightness, contrast, Undo, Redo, Clear, Save. It sends every stroke (in
image pixel coordinates) and every key or toolbar action to Python as a numbered event the
moment it happens, and resends what Python has not acknowledged (``ack`` in the data), so a
stroke made just before a switch is never lost. Python keeps the mask: the surface shows what
Python sends plus the strokes still on their way.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from blasto.store import atomic

_HERE = Path(__file__).resolve().parent
COMPONENT = "blasto.drawing_surface"
#: Events the surface sends (``kind``), besides "stroke".
ACTIONS = ("undo", "redo", "clear", "save", "previous", "next", "propose", "copy", "interpolate")
#: The keys, as the page documents them.
KEYS = (
    ("O / B / G (or 1 / 2 / 3)", "Outline, Brush, Polygon"),
    ("E (or 4)", "Erase on/off: paint background with any tool"),
    ("Ctrl+Z, Ctrl+Shift+Z or Ctrl+Y", "undo, redo (one stroke or one proposal at a time)"),
    ("S", "save the mask"),
    ("← / → or , / .", "previous / next frame"),
    ("P, C, I", "propose (model), copy the previous mask, interpolate between keyframes"),
    ("wheel, + / -, 0", "zoom in and out (1x-6x) about the pointer, back to the whole frame"),
    ("space+drag, middle or right drag", "pan"),
    ("Polygon: click corners; click the first again, double-click or Enter", "close it"),
)

_surface = st.components.v2.component(
    COMPONENT, html="", css=(_HERE / "canvas.css").read_text(),
    js=(_HERE / "canvas.js").read_text())


def png_url(array: np.ndarray) -> str:
    """A uint8 gray image (or a bool mask, white = True) as a PNG data URL.

    >>> png_url(np.zeros((2, 2), bool))[:22]
    'data:image/png;base64,'
    """
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    return "data:image/png;base64," + base64.b64encode(atomic.png_bytes(array)).decode()


@dataclass(frozen=True)
class SurfaceData:
    """What Python sends the surface on each run."""

    target: str  # which mask: the events it sends name it
    title: str
    image_url: str
    mask: np.ndarray
    ack: dict | None
    can_undo: bool
    can_redo: bool
    dirty: bool
    had_mask: bool
    revision_key: str
    view_key: str
    brightness: float = 0.0
    contrast: float = 1.0
    note: str = ""
    display: int = 512

    def to_json(self) -> dict:
        height, width = self.mask.shape
        return {"target": self.target, "title": self.title, "image": self.image_url,
                "mask": png_url(self.mask), "ack": self.ack, "width": width, "height": height,
                "can_undo": self.can_undo, "can_redo": self.can_redo, "dirty": self.dirty,
                "had_mask": self.had_mask, "revision_key": self.revision_key,
                "view_key": self.view_key, "note": self.note, "display": self.display,
                "view": {"brightness": self.brightness, "contrast": self.contrast}}


def drawing_surface(data: SurfaceData, *, key: str, on_events, on_view):
    """Mount the surface; ``on_events`` runs when it sends events, ``on_view`` when the
    brightness or contrast changed. Returns the component's state (``events``, ``view``)."""
    return _surface(key=key, data=data.to_json(), on_events_change=on_events,
                    on_view_change=on_view, width=data.display + 20, height="content")
