"""The Annotate page's parts: its state, and one module per step (pages/1_Annotate.py
dispatches)."""
