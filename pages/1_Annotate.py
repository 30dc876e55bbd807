import streamlit as st

from blasto import ui

ui.page_setup("Annotate")
st.title("Annotate")
experiment = ui.pick_experiment()
st.info("This page is being built.")
