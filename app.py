"""blasto home page: the experiments and what each holds, with links to the three steps.

Run with ``streamlit run app.py``; the pages in ``pages/`` are the steps of the lab's workflow.
"""

import streamlit as st

from blasto.app.common import page_setup, report_errors, run_page
from blasto.model.files import list_models
from blasto.store.experiment import delete_experiment, list_experiments, open_experiment
from blasto.store.roots import data_root, models_root

PAGES = [
    ("pages/1_Annotate.py", "Annotate", ":material/draw:", "crop pools, clean the background, draw masks"),
    ("pages/2_Train.py", "Train", ":material/model_training:", "train the U-Net, watch the loss, stop by hand"),
    ("pages/3_Review.py", "Review", ":material/monitoring:", "predicted masks beside area over time"),
]


def model_names() -> list[str]:
    return [model.describe() for model in list_models()]


def experiment_card(name: str) -> None:
    """One experiment: what it holds, and a link to each step with it selected."""
    with st.container(border=True):
        st.markdown(f"### {name}")
        with report_errors():
            summary = open_experiment(name).summary()
            cols = st.columns(5)
            cols[0].metric("Pools", summary.pools)
            cols[1].metric("Frames per pool", summary.frames)
            cols[2].metric("Annotated frames", summary.annotated_frames,
                           help=f"{summary.hand_masks} drawn here, {summary.imported_pairs} imported "
                                "from the lab's folders.")
            cols[3].metric("Train / validation frames", f"{summary.train_frames} / {summary.validation_frames}",
                           help=f"Annotated frames on each side of the split: {summary.train_pools} train "
                                f"and {summary.validation_pools} validation pools, and imported pairs.")
            cols[4].metric("Background cleaned", "yes" if summary.cleaned else "no")
            if summary.predictions:
                st.caption("Predictions by: " + ", ".join(summary.predictions))
            links = st.columns(len(PAGES))
            for column, (path, label, icon, _) in zip(links, PAGES):
                with column:
                    st.page_link(path, label=f"{label} {name}", icon=icon,
                                 query_params={"experiment": name})


def delete_section(names: list[str]) -> None:
    if not names:
        return
    with st.expander("Delete an experiment"):
        name = st.selectbox("Experiment to delete", names, key="delete_name")
        confirm = st.text_input("Type its name to confirm", key="delete_confirm")
        if st.button("Delete for good", disabled=confirm != name):
            with report_errors():
                delete_experiment(name)
                st.rerun()


def main():
    page_setup("Home")
    st.title("blasto")
    st.caption("Measure how blastocysts grow and collapse over a time-lapse.")
    for path, label, icon, what in PAGES:
        st.page_link(path, label=f"**{label}**: {what}", icon=icon)

    st.header("Experiments")
    names = list_experiments()
    if not names:
        st.info(f"No experiments in {data_root()} yet. Crop a movie on the Annotate page, "
                "or run `python -m blasto demo data`.")
    for name in names:
        experiment_card(name)

    st.header("Models")
    models = model_names()
    st.write(", ".join(models) if models else f"No models in {models_root()} yet.")
    delete_section(names)


if __name__ == "__main__":
    run_page(main, title="Home")
