"""The Dask cluster a batch runs on: an existing scheduler, or a LocalCluster sized for the machine.

Local sizing: one worker per GPU where there are GPUs (each worker sees only its own GPU:
``CUDA_VISIBLE_DEVICES`` is set before TensorFlow starts in it); else ``cores // 4`` CPU
workers (at least 1). Each worker runs one plate at a time (``threads_per_worker=1``), and
TensorFlow inside it uses ``cores // workers`` threads: TF already spreads one network call
over the cores, so more Dask threads a worker would only make plates fight over them, while
several workers overlap one plate's single-threaded crop and clean with another's network.

With ``--scheduler ADDRESS`` (``tcp://host:8786``: a ``dask scheduler``, dask-jobqueue's
SLURMCluster, a Kubernetes cluster) the workers are whatever that cluster has; they must see
the movies, the model and the output folder at the same paths (a shared file system).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

try:  # Dask is an optional extra: without it this module still plans, start_client says what to install
    from distributed.diagnostics.plugin import WorkerPlugin as _WorkerPlugin
except ImportError:  # pragma: no cover - only without requirements-scale.txt
    _WorkerPlugin = object


@dataclass(frozen=True)
class LocalPlan:
    """How a LocalCluster is laid out on this machine."""

    workers: int
    tf_threads: int
    gpus: tuple[str, ...] = ()

    def describe(self) -> str:
        devices = f"one per GPU ({', '.join(self.gpus)})" if self.gpus else "CPU"
        return (f"LocalCluster: {self.workers} worker{'s' if self.workers != 1 else ''} ({devices}), "
                f"1 plate at a time each, {self.tf_threads} TensorFlow thread{'s' if self.tf_threads != 1 else ''} each")


def visible_gpus(environ=None) -> tuple[str, ...]:
    """GPU ids this process may use: ``CUDA_VISIBLE_DEVICES`` if set, else those nvidia-smi lists.

    >>> visible_gpus({"CUDA_VISIBLE_DEVICES": "0,2"})
    ('0', '2')
    >>> visible_gpus({"CUDA_VISIBLE_DEVICES": ""})
    ()
    """
    environ = os.environ if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in environ:
        ids = [g.strip() for g in environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip()]
        return tuple(g for g in ids if g != "-1")
    if not shutil.which("nvidia-smi"):
        return ()
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(str(i) for i, line in enumerate(listed.splitlines()) if line.startswith("GPU "))


def plan_local(*, workers: int | None = None, plates: int | None = None, cores: int | None = None,
               gpus=None) -> LocalPlan:
    """The local layout: ``workers`` if given, else one per GPU, else ``cores // 4``; never more
    workers than plates.

    >>> plan_local(cores=16, gpus=())
    LocalPlan(workers=4, tf_threads=4, gpus=())
    >>> plan_local(cores=2, gpus=(), workers=2)
    LocalPlan(workers=2, tf_threads=1, gpus=())
    >>> plan_local(cores=32, gpus=("0", "1"), plates=5)
    LocalPlan(workers=2, tf_threads=16, gpus=('0', '1'))
    """
    cores = cores or os.cpu_count() or 1
    gpus = visible_gpus() if gpus is None else tuple(gpus)
    count = workers or (len(gpus) if gpus else max(1, cores // 4))
    if plates:
        count = min(count, plates)
    count = max(1, count)
    return LocalPlan(workers=count, tf_threads=max(1, cores // count), gpus=gpus)


class WorkerSetup(_WorkerPlugin):
    """A Dask worker plugin: its GPU and TensorFlow's threads, set before TensorFlow starts."""

    name = "blasto-worker-setup"

    def __init__(self, plan: LocalPlan):
        self.plan = plan

    def setup(self, worker):
        plan = self.plan
        if plan.gpus:
            index = int(worker.name) if str(worker.name).isdigit() else 0
            os.environ["CUDA_VISIBLE_DEVICES"] = plan.gpus[index % len(plan.gpus)]
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ["TF_NUM_INTRAOP_THREADS"] = str(plan.tf_threads)
        os.environ["TF_NUM_INTEROP_THREADS"] = "1"

    def teardown(self, worker):
        pass


def start_client(*, scheduler: str | None = None, workers: int | None = None, plates: int | None = None,
                 processes: bool = True):
    """(client, description): a Dask client on ``scheduler``, or on a new LocalCluster.

    ``processes=False`` runs the local workers as threads of this process (fast to start: for
    tests); the GPU and thread settings then do not apply. Close the client's cluster with
    :func:`stop_client`.
    """
    from blasto.batch import require_dask

    distributed = require_dask()
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            from blasto.errors import BlastoError

            raise BlastoError(f"Cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        count = len(client.scheduler_info().get("workers", {}))
        return client, f"Dask scheduler {scheduler} ({count} workers)"
    plan = plan_local(workers=workers, plates=plates)
    cluster = distributed.LocalCluster(
        n_workers=plan.workers, threads_per_worker=1, processes=processes,
        dashboard_address=None, silence_logs=40,
    )
    client = distributed.Client(cluster)
    if processes:
        # Applied before any task runs, in each worker's own fresh process (TF not loaded yet).
        client.register_plugin(WorkerSetup(plan))
    return client, plan.describe() + ("" if processes else " (threads of this process)")


def stop_client(client) -> None:
    """Close the client and, when it made one, its LocalCluster."""
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()
