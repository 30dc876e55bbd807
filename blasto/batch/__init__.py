"""Many plate movies at once, on Dask: ``python -m blasto batch MOVIES... --model M --out DIR``.

One module per job:

    inputs.py     which movies (files, folders, globs), their plate names, the shard of a job array
    resume.py     what makes a plate's work the same (movie content, model, settings): skip it
    plate.py      one plate: crop, clean, predict, measure areas (and events), write its outputs
    cluster.py    the Dask cluster: a LocalCluster sized for the machine, or an existing scheduler
    progress.py   progress of the whole batch and of each plate, as lines of text
    run.py        the batch: one Dask task per plate, failures by name, the combined tables

Dask (``dask.distributed``) is an optional extra (``requirements-scale.txt``): importing this
package does not need it; :func:`require_dask` says how to install it when it is missing.
"""

from __future__ import annotations

from blasto.errors import BlastoError


def require_dask():
    """The ``distributed`` module, or a BlastoError saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise BlastoError(
            "python -m blasto batch runs on Dask, which is not installed: install the optional "
            "extra with `.venv/bin/python -m pip install -r requirements-scale.txt`."
        ) from None
    return distributed
