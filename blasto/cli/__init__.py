"""One module per ``python -m blasto`` subcommand (see :mod:`blasto.cli.main`)."""
