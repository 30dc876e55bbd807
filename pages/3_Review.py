import streamlit as st

from blasto import ui

ui.page_setup("Review")
st.title("Review")
experiment = ui.pick_experiment()
st.info("This page is being built.")
