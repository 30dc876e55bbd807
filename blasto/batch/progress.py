"""Progress of a batch as lines of text: the whole batch, and each plate's stage.

Workers send :class:`~blasto.batch.plate.PlateProgress` events through Dask's event log
(``log_event`` on the worker, ``subscribe_topic`` on the client), so progress reaches the
client from any cluster, without a shared file. Lines are printed when a plate changes stage
or moves by a tenth of its stage, never for every frame.
"""

from __future__ import annotations

import sys
import threading

from blasto.batch.plate import PlateProgress, PlateResult

#: The Dask event topic of plate progress.
TOPIC = "blasto-batch-progress"


class BatchProgress:
    """Prints ``[batch D/N, F failed] plate: stage done/total`` lines.

    >>> import io
    >>> stream = io.StringIO()
    >>> progress = BatchProgress(["a", "b"], stream=stream)
    >>> progress.plate(PlateProgress("a", "predicting", 5, 10))
    >>> progress.finished(PlateResult("a", "a.tif", "done", pools=2, frames=5, seconds=1.0))
    >>> print(stream.getvalue().strip())
    [batch 0/2 plates] a: predicting 5/10 (50%)
    [batch 1/2 plates] a: 2 pools x 5 frames, done in 1.0 s
    """

    def __init__(self, plates, *, stream=None):
        self.total = len(plates)
        self.stream = stream or sys.stdout
        self.finished_plates: set[str] = set()
        self.failed = 0
        self._shown: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()  # events arrive on Dask's thread, results on the caller's

    def _line(self, text: str) -> None:
        failed = f", {self.failed} failed" if self.failed else ""
        self.stream.write(f"[batch {len(self.finished_plates)}/{self.total} plates{failed}] {text}\n")
        self.stream.flush()

    def plate(self, event: PlateProgress) -> None:
        """One plate's progress; shown when its stage changes or moves by 10 %."""
        with self._lock:
            if event.plate in self.finished_plates or event.stage == "done":
                return
            tenth = 10 * event.done // event.total if event.total else -1
            if self._shown.get(event.plate) == (event.stage, tenth):
                return
            self._shown[event.plate] = (event.stage, tenth)
            amount = f" {event.done}/{event.total} ({100 * event.done // event.total}%)" if event.total else ""
            self._line(f"{event.plate}: {event.stage}{amount}")

    def event(self, event) -> None:
        """A Dask event ``(timestamp, message)`` carrying a PlateProgress as a dict."""
        message = event[1]  # the worker adds its own address under "worker"
        self.plate(PlateProgress(**{k: message[k] for k in ("plate", "stage", "done", "total") if k in message}))

    def finished(self, result: PlateResult) -> None:
        with self._lock:
            self.finished_plates.add(result.name)
            self.failed += result.status == "failed"
            self._line(result.describe())
