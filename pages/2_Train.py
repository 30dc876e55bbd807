import streamlit as st

from blasto import ui

ui.page_setup("Train")
st.title("Train")
experiment = ui.pick_experiment()
st.info("This page is being built.")
