"""The Review page's movie player: a bidirectional Streamlit component (``st.components.v2``).

The movie plays in the browser (player.js beside this file, no build step): the pool's frames
travel once, as one JPEG sprite sheet served by Streamlit's media files (the browser caches it
by URL), the masks as SVG path text drawn over each frame, and the area chart as plain data
that the component draws itself (blasto.review.charts.player_chart), with its marker following
the movie and a click on it moving the movie. Play, pause, the scrub slider, contrast and
brightness all act in the browser without a server run; the frame shown comes back to Python
(the component's ``frame`` state) when the movie is paused, scrubbed, stepped or clicked, never
while it plays. Python moves the movie by changing ``seek``: a (frame, nonce) pair, where a new
nonce means "go there" even to the same frame.
"""

from __future__ import annotations

import base64
from pathlib import Path

import streamlit as st

from blasto.review.overlay import MANUAL_COLOUR, Sprite

HERE = Path(__file__).resolve().parent
NAME = "blasto_review_player"
MAX_FPS = 24

_component = st.components.v2.component(
    NAME,
    js=(HERE / "player.js").read_text(encoding="utf-8"),
    css=(HERE / "player.css").read_text(encoding="utf-8"),
)


def sprite_url(sprite: Sprite, *, key: str) -> str:
    """A URL for the sprite: a Streamlit media file (fetched once, cached by the browser), or a
    data URL outside a running app."""
    from streamlit import runtime

    if runtime.exists():
        return runtime.get_instance().media_file_mgr.add(sprite.data, sprite.mime, f"{NAME}.{key}")
    return f"data:{sprite.mime};base64,{base64.b64encode(sprite.data).decode('ascii')}"


def player(*, sprite: Sprite, model_paths, hand_paths: dict, chart: dict, style: str, colour: str,
           opacity: float, fps: int, frame: int, seek: tuple[int, int], key: str, on_frame=None):
    """Mount the player; returns the frame it last reported (None before it reported one).

    ``model_paths`` is one SVG path per frame (blasto.review.overlay.mask_path, "" for none),
    ``hand_paths`` maps annotated frames to their hand mask's path, ``chart`` is
    blasto.review.charts.player_chart's dict. ``frame`` is where a newly loaded movie starts;
    ``seek`` (frame, nonce) jumps when its nonce changes. ``on_frame`` runs (as a widget
    callback, before the next run) when the component reports a frame.
    """
    fps = int(min(max(1, fps), MAX_FPS))
    data = {
        "movie": {"url": sprite_url(sprite, key=key), "count": sprite.count, "columns": sprite.columns,
                  "width": sprite.width, "height": sprite.height},
        "model": list(model_paths),
        "hand": {str(f): p for f, p in hand_paths.items()},
        "chart": chart,
        "look": {"style": style, "colour": colour, "opacity": float(opacity), "hand_colour": MANUAL_COLOUR},
        "fps": fps,
        "frame": int(frame),
        "seek": {"frame": int(seek[0]), "nonce": int(seek[1])},
    }
    result = _component(key=key, data=data, default={"frame": int(frame)},
                        on_frame_change=on_frame or (lambda: None))
    value = getattr(result, "frame", None)
    return None if value is None else int(value)
