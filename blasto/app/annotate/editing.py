"""The Draw step's masks being edited in this browser session: which target the surface shows,
the events it sends (strokes, undo, save, ...), saving, and the choice when another tab saved
the same mask first.

A *target* names one mask of one experiment (``"demo|p2f7"``: pool 2, frame 7;
``"demo|itrain3"``: imported train pair 3). Events name their target, so a stroke that arrives
after the user moved on still lands on the frame it was drawn on, and is saved there.
"""

from __future__ import annotations

import re

import streamlit as st

from blasto.annotate.edit import FrameEdit, Slot, StaleMaskError
from blasto.annotate.strokes import Stroke
from blasto.app.annotate.state import Keys, state
from blasto.errors import BlastoError
from blasto.store.experiment import open_experiment

ss = st.session_state
_SLOT = re.compile(r"^(?:p(\d+)f(\d+)|i(train|validation)(\d+))$")


# -- targets -------------------------------------------------------------------------------------
def slot_key(slot: Slot) -> str:
    """The short key of a mask slot, unique within an experiment.

    >>> slot_key(Slot(pool=2, frame=7)), slot_key(Slot(side="train", frame=3))
    ('p2f7', 'itrain3')
    """
    return f"i{slot.side}{slot.frame}" if slot.imported else f"p{slot.pool}f{slot.frame}"


def target_of(experiment_name: str, slot: Slot) -> str:
    return f"{experiment_name}|{slot_key(slot)}"


def parse_target(target: str) -> tuple[str, Slot]:
    """The experiment name and slot a drawing surface's target names.

    >>> parse_target("demo|p2f7")
    ('demo', Slot(pool=2, frame=7, side=None))
    """
    name, _, key = str(target).rpartition("|")
    match = _SLOT.match(key)
    if not name or not match:
        raise BlastoError(f"The drawing surface named an unknown mask {target!r}.")
    if match.group(1):
        return name, Slot(pool=int(match.group(1)), frame=int(match.group(2)))
    return name, Slot(side=match.group(3), frame=int(match.group(4)))


def edit_for(experiment, slot: Slot) -> FrameEdit:
    """This session's edit of a mask: kept from an earlier visit (with its undo history), else
    opened from disk. An edit with nothing unsaved follows the disk: if another tab saved the
    mask meanwhile, the edit takes that mask (one undo step)."""
    page, target = state(), target_of(experiment.name, slot)
    edit = page.edits.get(target)
    if edit is None:
        edit = page.edits[target] = FrameEdit.open(experiment, slot)
    elif not edit.dirty and edit.disk_changed(experiment)[0]:
        edit.save(experiment, resolve="theirs")
    return edit


def forget_edit(experiment, slot: Slot) -> None:
    state().edits.pop(target_of(experiment.name, slot), None)


# -- saving -------------------------------------------------------------------------------------
def save_target(target: str, *, resolve: str | None = None, moving: bool = False) -> bool:
    """Save one edited mask; returns whether it was written. A conflict with another tab's save
    is left for the user to settle (:func:`conflict_choice`), never overwritten silently."""
    page = state()
    edit = page.edits.get(target)
    if edit is None:
        return False
    name, slot = parse_target(target)
    try:
        result = edit.save(open_experiment(name), resolve=resolve)
    except StaleMaskError:
        page.conflict = target
        if moving:
            page.toasts.append(f"Not saved: {slot.label} was saved in another tab meanwhile. "
                               "Your strokes are kept; open it again to choose.")
        return False
    if page.conflict == target:
        page.conflict = None
    what = "Took the other tab's mask for" if resolve == "theirs" else "Saved"
    page.toasts.append(f"{what} {slot.label}" + (" before moving on" if moving else "")
                       + f" · {result.provenance.text}.")
    return True


def save_others(current: str | None) -> None:
    """Autosave every edited mask with unsaved strokes except ``current`` (the user left it)."""
    for target, edit in list(state().edits.items()):
        if target != current and edit.dirty and state().conflict != target:
            try:
                save_target(target, moving=True)
            except BlastoError as exc:
                state().toasts.append(str(exc))


def leave_all() -> None:
    """Take the surface's last events and save every unsaved mask (the user leaves Draw)."""
    absorb()
    save_others(None)
    state().visit = None


# -- events from the surface ---------------------------------------------------------------------
def absorb() -> None:
    """Take the surface's events not taken yet, in order. Safe to call more than once per run
    (callbacks, the page's start): each event is taken once."""
    value = ss.get(Keys.SURFACE)
    events = (value or {}).get("events") if hasattr(value, "get") else None
    if not events:
        return
    page = state()
    for event in sorted((e for e in events if isinstance(e, dict)),
                        key=lambda e: (str(e.get("nonce")), int(e.get("seq", 0)))):
        nonce, seq = str(event.get("nonce")), int(event.get("seq", 0))
        if seq <= page.taken.get(nonce, 0):
            continue
        page.taken[nonce] = seq  # first: a bad event is reported once, not retried forever
        page.last_nonce = nonce
        try:
            take(event)
        except BlastoError as exc:
            page.error = str(exc)


def take(event: dict) -> None:
    page = state()
    target, kind = event.get("target"), event.get("kind")
    name, slot = parse_target(target)
    if kind in ("previous", "next"):
        page.move += -1 if kind == "previous" else 1
        return
    if kind in ("propose", "copy", "interpolate"):
        page.assist = kind
        return
    experiment = open_experiment(name)
    edit = edit_for(experiment, slot)
    if kind == "stroke":
        edit.add_stroke(Stroke.from_dict(event.get("stroke") or {}))
    elif kind in ("undo", "redo", "clear"):
        getattr(edit, kind)()
    elif kind == "save":
        save_target(target)
        return
    else:
        raise BlastoError(f"The drawing surface sent an unknown action {kind!r}.")
    if target != page.visit:  # drawn just before the user moved on: save it there
        save_target(target, moving=True)


def ack() -> dict | None:
    """What the surface may forget: every event up to the last one taken."""
    page = state()
    if page.last_nonce is None:
        return None
    return {"nonce": page.last_nonce, "seq": page.taken.get(page.last_nonce, 0)}


def on_view() -> None:
    """The surface's brightness/contrast changed: keep them for the experiment."""
    view = (ss.get(Keys.SURFACE) or {}).get("view") or {}
    try:
        state().views[str(view["key"])] = (float(view["brightness"]), float(view["contrast"]))
    except (KeyError, TypeError, ValueError):
        pass


def show_toasts() -> None:
    page = state()
    for text in page.toasts:
        st.toast(text, icon=":material/save:" if text.startswith(("Saved", "Took")) else
                 ":material/warning:")
    page.toasts.clear()


# -- two tabs --------------------------------------------------------------------------------------
def conflict_choice(target: str) -> None:
    """Another tab saved this mask after this tab opened it: keep mine, take theirs, or both."""
    _, slot = parse_target(target)
    st.warning(f"**{slot.label.capitalize()} was saved in another tab** (or changed on disk) "
               "after you opened it. Which mask should be kept?", icon=":material/warning:")
    mine, theirs, union = st.columns(3)
    mine.button("Keep mine", key="anno_keep_mine", width="stretch",
                on_click=save_target, args=(target,), kwargs={"resolve": "mine"})
    theirs.button("Take theirs", key="anno_take_theirs", width="stretch",
                  on_click=save_target, args=(target,), kwargs={"resolve": "theirs"})
    union.button("Merge as union", key="anno_merge", width="stretch",
                 on_click=save_target, args=(target,), kwargs={"resolve": "union"})
