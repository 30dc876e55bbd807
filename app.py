"""blasto home page: the experiments and what each holds, with links to the three steps.

Run with ``streamlit run app.py``; the pages in ``pages/`` are the steps of the lab's workflow.
"""

import pandas as pd
import streamlit as st

from blasto import ui
from blasto.experiment import delete_experiment, list_experiments, open_experiment
from blasto.paths import data_root, models_root


def experiments_table() -> pd.DataFrame:
    rows = []
    for name in list_experiments():
        with ui.report_errors():
            s = open_experiment(name).summary()
            rows.append({
                "experiment": name,
                "pools": s["pools"],
                "frames": s["frames"],
                "annotated frames": s["annotated_frames"],
                "train / validation pools": f"{s['train_pools']} / {s['validation_pools']}",
                "background cleaned": "yes" if s["cleaned"] else "no",
                "predictions": ", ".join(s["predictions"]) or "-",
            })
    return pd.DataFrame(rows)


def model_names() -> list[str]:
    root = models_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def main():
    ui.page_setup("Home")
    st.title("🧫 blasto")
    st.caption("Measure how blastocysts grow and collapse over a time-lapse.")

    st.page_link("pages/1_Annotate.py", label="**1 · Annotate**: crop pools, clean the background, draw masks", icon="✏️")
    st.page_link("pages/2_Train.py", label="**2 · Train**: train the U-Net, watch the loss, stop by hand", icon="🏋️")
    st.page_link("pages/3_Review.py", label="**3 · Review**: predicted masks and area over time", icon="📈")

    st.subheader("Experiments")
    table = experiments_table()
    if table.empty:
        st.info(f"No experiments in {data_root()} yet. Crop a movie on the Annotate page, "
                "or run `python -m blasto demo data`.")
    else:
        st.dataframe(table, hide_index=True, width="stretch")

    models = model_names()
    st.subheader("Models")
    st.write(", ".join(models) if models else f"No models in {models_root()} yet.")

    with st.expander("Delete an experiment"):
        names = list_experiments()
        if names:
            name = st.selectbox("Experiment to delete", names, key="delete_name")
            confirm = st.text_input(f"Type the name to confirm", key="delete_confirm")
            if st.button("Delete for good", disabled=confirm != name):
                with ui.report_errors():
                    delete_experiment(name)
                    st.success(f"Deleted {name}.")
                    st.rerun()


main()
