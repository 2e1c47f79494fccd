"""The disk's own flush latency while a run goes on: an 8 KB write and `fdatasync` every 20 ms,
in a thread, on the filesystem the embedded PostgreSQL keeps its WAL on (the temporary
directory). A commit waits for the same kind of flush, so a stall of the disk can hold the
commits made meanwhile: a latency run's tail is read beside this baseline (not every slow flush
of the probe's file is one the commits meet)."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from types import TracebackType

BLOCK = 8192  # one WAL page
BLOCKS = 128  # rewritten in turn: the file stays at 1 MB


class DiskProbe:
    def __init__(self, every_s: float = 0.02, directory: str | None = None) -> None:
        self.flushes_s: list[float] = []
        self._every_s = every_s
        self._directory = directory or tempfile.gettempdir()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._probe, name="disk-probe", daemon=True)

    def __enter__(self) -> DiskProbe:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _probe(self) -> None:
        page = os.urandom(BLOCK)
        with tempfile.NamedTemporaryFile(dir=self._directory, prefix="disk-probe-") as file:
            descriptor = file.fileno()
            written = 0
            while not self._stop.wait(self._every_s):
                started = time.perf_counter()
                os.pwrite(descriptor, page, (written % BLOCKS) * BLOCK)
                os.fdatasync(descriptor)
                self.flushes_s.append(time.perf_counter() - started)
                written += 1
