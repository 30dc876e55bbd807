"""The experiment store: one folder per experiment under ``data/``, written atomically."""
