"""The Annotate page's step 3: draw masks on pool frames (and on the pairs imported from the
lab's folders) with blasto's drawing surface; masks the user left with unsaved strokes are
saved when they move on."""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from blasto.annotate import plan
from blasto.annotate.edit import Slot, imported_slots
from blasto.app.annotate import assist, editing
from blasto.app.annotate.canvas import KEYS, SurfaceData, drawing_surface, png_url
from blasto.app.annotate.state import Keys, Nav, state
from blasto.app.common import clock
from blasto.errors import BlastoError
from blasto.store.experiment import SIDES, open_experiment

ss = st.session_state
DISPLAY = 512  # the surface's side in screen pixels at zoom 1x (a 256 px frame shows at 2x)


# -- where to go -------------------------------------------------------------------------------
def jump(pool, frame):
    page = state()
    if page.nav is not None:
        page.nav.pool = pool if isinstance(pool, str) else int(pool)
        page.nav.frame = int(frame)
    page.notice = None


def pick_pool(pool, experiment):
    """A new pool opens at its next frame to annotate (imported pairs at the first)."""
    if isinstance(pool, str):
        jump(pool, (frame_options(experiment, pool) or [0])[0])
    else:
        jump(pool, plan.next_frame(experiment, pool) or 0)


def on_progress_select(experiment):
    rows = (ss.get(Keys.PROGRESS) or {}).get("selection", {}).get("rows", [])
    if not rows:
        return
    row = plan.progress_rows(experiment)[rows[0]]
    frame = row.next_frame
    if frame is None:
        frame = (plan.frames_to_annotate(experiment, row.pool) or [0])[0]
    jump(row.pool, frame)


def frame_label(frame, *, annotated, listed, interval):
    status = "done" if frame in annotated else ("to do" if frame in listed else "not on the list")
    when = f" ({clock(frame * interval)})" if interval else ""
    return f"Frame {frame}{when} · {status}"


def sources(experiment) -> list:
    """What Draw can open: the pools, then each side with imported lab pairs."""
    return experiment.pool_numbers + [s for s in SIDES if experiment.imported_pairs(s)]


def frame_options(experiment, pool, n_frames=None, current=None) -> list[int]:
    """The frames the pickers offer for a pool (or the pair numbers of an imported side)."""
    if isinstance(pool, str):
        return [s.frame for s in imported_slots(experiment, pool)]
    listed = plan.frames_to_annotate(experiment, pool, n_frames=n_frames)
    extra = {current} if current is not None else set()
    return sorted(set(listed) | set(experiment.annotated_frames(pool)) | extra)


def slot_of(pool, frame) -> Slot:
    return Slot(side=pool, frame=frame) if isinstance(pool, str) else Slot(pool=pool, frame=frame)


def settle_nav(experiment, choices, n_frames) -> Slot:
    """Put the page's position on a frame that exists, after any moves the surface's keys
    asked for; returns the slot it names."""
    page = state()
    if page.nav is None or page.nav.experiment != experiment.name:
        page.nav = first_nav(experiment, choices)
    nav = page.nav
    if nav.pool not in choices:
        nav.pool, nav.frame = choices[0], None
    if isinstance(nav.pool, str):
        options = frame_options(experiment, nav.pool)
        if nav.frame not in options:
            nav.frame = options[0]
    elif not isinstance(nav.frame, int) or not 0 <= nav.frame < n_frames:
        nav.frame = plan.next_frame(experiment, nav.pool) or 0
    if page.move:
        options = frame_options(experiment, nav.pool, n_frames, nav.frame)
        position = min(max(options.index(nav.frame) + page.move, 0), len(options) - 1)
        nav.frame, page.move = options[position], 0
    return slot_of(nav.pool, nav.frame)


def first_nav(experiment, choices) -> Nav:
    """Where the Draw step opens: a link may name ``pool`` and ``frame``."""
    wanted = {"pool": choices[0], "frame": None}
    for name in ("pool", "frame"):
        value = st.query_params.get(name)
        try:
            wanted[name] = int(value)
        except (TypeError, ValueError):
            if name == "pool" and value in SIDES:
                wanted[name] = value
    return Nav(experiment=experiment.name, **wanted)


def picker(label, options, value, *, key, on_pick, args=(), format_func=str, help=None):
    """A select box showing ``value``, whose labels may change (progress counts).

    The value lives in the page state (buttons and the progress table change it too), and
    Streamlit matches a select box's value by its label, so the widget is made anew (new key)
    whenever the value or the labels change.
    """
    labels = [format_func(o) for o in options]
    base, key = key, f"{key}_{hashlib.md5(repr((value, labels)).encode()).hexdigest()[:10]}"
    ss[f"{base}_current"] = key

    def picked():
        # The browser may still report a change of the select box this one replaced: only
        # the current one moves the user.
        if ss.get(f"{base}_current") == key:
            on_pick(ss[key], *args)

    return st.selectbox(label, options, index=options.index(value), key=key,
                        format_func=format_func, help=help, on_change=picked)


def pool_label(pool, by_pool, experiment):
    if isinstance(pool, str):
        return f"Imported lab pairs · {pool} · {len(experiment.imported_pairs(pool))} pairs"
    row = by_pool[pool]
    return f"Pool {pool} · {row.side or '-'} · {row.annotated} of {row.to_annotate} done"


def navigation(experiment, choices, n_frames, progress):
    """Pool and frame pickers with previous/next; returns the frames on the list."""
    interval = experiment.manifest.frame_interval_s
    by_pool = {r.pool: r for r in progress}
    nav = state().nav
    pool = picker("Pool", choices, nav.pool, key="anno_pool", on_pick=pick_pool,
                  args=(experiment,), format_func=lambda p: pool_label(p, by_pool, experiment))
    options = frame_options(experiment, pool, n_frames, nav.frame)
    if isinstance(pool, str):
        listed = options
        label = lambda f: f"Pair {f}"  # noqa: E731
    else:
        listed = plan.frames_to_annotate(experiment, pool, n_frames=n_frames)
        annotated = experiment.annotated_frames(pool)
        label = lambda f: frame_label(f, annotated=annotated, listed=listed,  # noqa: E731
                                      interval=interval)
    frame = picker(
        "Frame", options, nav.frame, key="anno_frame", on_pick=lambda f: jump(pool, f),
        format_func=label,
        help="Frames on the list to annotate (every Nth, plus those you add) and frames with a "
             "mask. Open any other frame under 'Frames to annotate' below.")
    position = options.index(frame)
    back, forward = st.columns(2)
    back.button("Previous", icon=":material/chevron_left:", width="stretch",
                disabled=position == 0, on_click=jump, args=(pool, options[max(position - 1, 0)]))
    forward.button("Next", icon=":material/chevron_right:", width="stretch",
                   disabled=position == len(options) - 1, on_click=jump,
                   args=(pool, options[min(position + 1, len(options) - 1)]))
    return listed


# -- the surface ---------------------------------------------------------------------------------
def title_of(experiment, slot: Slot) -> str:
    if slot.imported:
        return f"Imported {slot.side} pair {slot.frame}"
    interval = experiment.manifest.frame_interval_s
    side = experiment.manifest.split.side_of(slot.pool) or "no side"
    when = f" · {clock(slot.frame * interval)}" if interval else ""
    return f"Pool {slot.pool} · frame {slot.frame}{when} · {side}"


def image_url(experiment, slot: Slot) -> str:
    """The frame as a PNG data URL, made once per session and frame."""
    images, target = state().images, editing.target_of(experiment.name, slot)
    if target not in images:
        if len(images) > 64:
            images.pop(next(iter(images)))
        images[target] = png_url(np.asarray(slot.image(experiment), np.uint8))
    return images[target]


@st.fragment
def surface_fragment():
    """The drawing surface: a fragment, so a stroke reruns only this, not the whole page."""
    page = state()
    if page.move or page.assist or page.refresh_page:  # asked from the surface's keys
        page.refresh_page = False
        st.rerun(scope="app")
    if page.visit is None:
        return
    name, slot = editing.parse_target(page.visit)
    experiment = open_experiment(name)
    try:
        edit = editing.edit_for(experiment, slot)
    except BlastoError as exc:
        st.error(str(exc))
        return
    brightness, contrast = page.views.get(name, (0.0, 1.0))
    provenance = edit.provenance() if (edit.had_mask or edit.steps) else None
    data = SurfaceData(
        target=page.visit, title=title_of(experiment, slot), image_url=image_url(experiment, slot),
        mask=edit.mask, ack=editing.ack(), can_undo=edit.can_undo, can_redo=edit.can_redo,
        dirty=edit.dirty, had_mask=edit.had_mask, revision_key=f"{page.visit}#{edit.revision}",
        view_key=name, brightness=brightness, contrast=contrast, display=DISPLAY,
        note=provenance.text if provenance is not None and (edit.had_mask or edit.proposal)
        else "")
    drawing_surface(data, key=Keys.SURFACE, on_events=surface_events, on_view=editing.on_view)
    if page.conflict == page.visit:
        editing.conflict_choice(page.visit)
    if page.error:
        st.error(page.error)
        page.error = None
    editing.show_toasts()


def surface_events():
    page = state()
    before = dict(page.taken)
    saved_before = {t for t, e in page.edits.items() if not e.dirty}
    editing.absorb()
    if page.taken != before:
        saved_now = {t for t, e in page.edits.items() if not e.dirty and e.had_mask}
        # A save changes the progress counts and pickers outside the fragment.
        page.refresh_page = page.refresh_page or bool(saved_now - saved_before)


def frame_list(experiment, slot: Slot, listed, n_frames):
    """Which frames to annotate: every Nth, single frames on or off the list, any frame."""
    edit = editing.edit_for(experiment, slot)
    with st.expander("Frames to annotate"):
        if not slot.imported:
            pool, frame = slot.pool, slot.frame
            every = st.number_input("Annotate every Nth frame (all pools)", 1, max(n_frames, 1),
                                    experiment.manifest.annotation.every, key="anno_every")
            if every != experiment.manifest.annotation.every:
                plan.set_every(experiment, every)
                st.rerun()
            if frame in listed:
                if st.button(f"Take frame {frame} off the list", key="anno_unlist"):
                    plan.remove_frame(experiment, pool, frame)
                    st.rerun()
            elif st.button(f"Put frame {frame} on the list", key="anno_list"):
                plan.add_frame(experiment, pool, frame)
                st.rerun()
            st.number_input("Open any frame of this pool", 0, n_frames - 1, frame,
                            key=Keys.OTHER_FRAME)
            # Read the number when clicked: a number typed just before the click counts.
            st.button("Open", key="anno_open", on_click=lambda: jump(pool, ss[Keys.OTHER_FRAME]))
        if edit.had_mask:
            st.button(f"Delete the saved mask of {slot.label}", key="anno_delete",
                      icon=":material/delete:", on_click=delete_mask, args=(experiment.name, slot))


def delete_mask(name, slot: Slot):
    experiment = open_experiment(name)
    for path in (slot.mask_path(experiment), slot.strokes_path(experiment)):
        path.unlink(missing_ok=True)
    editing.forget_edit(experiment, slot)
    st.toast(f"Deleted the mask of {slot.label}.", icon=":material/delete:")


def keys_help():
    with st.expander("Keys"):
        st.markdown("\n".join(f"- **{keys}**: {what}" for keys, what in KEYS))


# -- step 3: draw: the page ---------------------------------------------------------------------
def step_draw(experiment):
    editing.absorb()
    choices = sources(experiment)
    if not choices:
        st.info("Crop a plate first (step 1), or import the lab's masks (step 4).")
        return
    pools = experiment.pool_numbers
    n_frames = experiment.n_frames(pools[0]) if pools else 0
    slot = settle_nav(experiment, choices, n_frames)
    page = state()
    page.visit = editing.target_of(experiment.name, slot)
    # Save what was drawn on the masks the user just left before counting progress.
    editing.save_others(page.visit)
    # Counted once per run: what changes the masks or the lists (saving, adding a frame) runs
    # in a callback before this, or reruns the page.
    progress = plan.progress_rows(experiment, n_frames=n_frames) if pools else []

    picture, controls = st.columns([3, 2], gap="medium")
    with controls:
        listed = navigation(experiment, choices, n_frames, progress)
        edit = editing.edit_for(experiment, slot)
        assist.panel(experiment, slot, edit)
    with picture:
        surface_fragment()
    with controls:
        frame_list(experiment, slot, listed, n_frames)
        keys_help()
        assist.retrain_panel(experiment)

    if progress:
        st.markdown("**Progress** · select a row to jump to that pool's next frame to annotate")
        st.dataframe(plan.progress_table(progress), hide_index=True, key=Keys.PROGRESS,
                     on_select=lambda: on_progress_select(experiment),
                     selection_mode="single-row", width="stretch")
