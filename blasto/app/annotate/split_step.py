"""The Annotate page's step 4: the train/validation split, and the lab's folders in and out."""

from __future__ import annotations

import streamlit as st

from blasto.annotate import labdata, labexport
from blasto.app.annotate.state import go_to
from blasto.app.common import report_errors
from blasto.errors import BlastoError
from blasto.prepare.split import plate_map
from blasto.store.experiment import create_experiment, validate_name
from blasto.store.manifest import SIDES
from blasto.store.roots import fenced_path


# -- step 4: split and the lab's folders ---------------------------------------------------------
def step_split(experiment):
    st.subheader("4 · Train / validation split and the lab's folders")
    pools = experiment.pool_numbers
    split = experiment.manifest.split
    if pools:
        st.caption("Split by pool, never by frame: all frames of a pool are on one side.")
        a, b = st.columns(2)
        train = a.multiselect("Train pools", pools, default=[p for p in split.train if p in pools],
                              key="split_train")
        validation = b.multiselect("Validation pools", pools,
                                   default=[p for p in split.validation if p in pools],
                                   key="split_validation")
        if st.button("Save the split", key="split_save"):
            with report_errors():
                experiment.set_split(train, validation)
                st.success(f"Saved: {len(train)} train and {len(validation)} validation pools.")
        grid = experiment.manifest.grid
        st.markdown(plate_map(experiment.manifest.split, pools, cols=grid.cols if grid else 4))
    imported = st.empty()  # filled last: an import below changes the counts
    new_experiment_form()
    left, right = st.columns(2)
    with left:
        import_section(experiment)
    with right:
        export_section(experiment)
    counts = {side: len(experiment.imported_pairs(side)) for side in SIDES}
    imported.markdown(f"**Imported pairs**: {counts['train']} train, {counts['validation']} "
                      "validation.")


def import_section(experiment):
    st.markdown("##### Import the lab's masks")
    st.caption("A folder with train/ and validation/: names with **x** are images, names "
               "with **y** their masks (black = cell), paired in sorted order. Pairs already "
               "in the experiment are skipped.")
    replace = st.checkbox("Replace pairs imported earlier", key="import_replace")
    folder = st.text_input("Folder on this computer", key="import_folder")
    if st.button("Import the folder", key="import_go"):
        with report_errors():
            if not folder.strip():
                raise BlastoError("Type the folder's path first (the folder holding train/ "
                                  "and validation/).")
            show_report(labdata.import_lab_folder(experiment, fenced_path(folder), replace=replace))
    upload = st.file_uploader("…or a zip of that folder", type=["zip"], key="import_zip")
    if upload is not None and st.button("Import the zip", key="import_zip_go"):
        with report_errors():
            show_report(labdata.import_lab_zip(experiment, upload.getvalue(), replace=replace,
                                                name=upload.name))


def export_section(experiment):
    st.markdown("##### Export in the lab's layout")
    st.caption("Cleaned frame as x, mask as y, by each pool's side; imported pairs too.")
    target = st.text_input("Empty folder to write into", key="export_folder")
    force = st.checkbox("Replace train/ and validation/ if the folder has them", key="export_force")
    if st.button("Export to the folder", key="export_go"):
        with report_errors():
            if not target.strip():
                raise BlastoError("Type the path of an empty folder to export into first.")
            counts = labexport.export_lab_folder(experiment, fenced_path(target), force=force)
            st.success(f"Exported {counts['train']} train and {counts['validation']} "
                       f"validation pairs to {target.strip()}.")
            left_out = labexport.unsplit_pools(experiment)
            if left_out:
                st.warning("Not exported, on neither side of the split: pool(s) "
                           f"{', '.join(map(str, left_out))}.")
    st.download_button("Download as a zip", icon=":material/download:",
                       data=lambda: labexport.export_lab_zip(experiment),
                       file_name=f"{experiment.name}-masks.zip", mime="application/zip",
                       key="export_zip", on_click="ignore")


def new_experiment_form():
    """An empty experiment, to import the lab's masks into without cropping a movie."""
    with st.expander("New empty experiment (for the lab's masks only)"):
        name = st.text_input("Name", key="new_name")
        size = int(st.number_input("Working size (pixels)", 32, 1024, 256, 32, key="new_size"))
        if st.button("Create", key="new_go"):
            with report_errors():
                experiment = create_experiment(validate_name(name), size=size)
                go_to(experiment=experiment.name)
                st.rerun()


def show_report(report):
    st.success(report.summary())
    for warning in report.warnings:
        st.warning(warning)
