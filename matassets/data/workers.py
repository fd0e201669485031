"""Worker processes for the per-structure work of ingestion (parsing, checks, graphs).

Workers are spawned (clean interpreters: no inherited threads or locks from a Dagster or torch
parent). ``imap`` keeps only a few chunks in flight, so results are consumed as they come and the
parent never holds every chunk's result at once.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool

logger = logging.getLogger(__name__)


def workers_default() -> int:
    """Worker processes: ``$MATASSETS_WORKERS``, else ``$MATASSETS_THREADS``, else the cores (2 on
    the shared development machine)."""
    for env in ("MATASSETS_WORKERS", "MATASSETS_THREADS"):
        raw = os.environ.get(env, "").strip()
        if raw.isdigit() and int(raw) > 0:
            return int(raw)
    return os.cpu_count() or 1


# items: below this, one process is as fast. Each spawned worker imports pymatgen before its first
# chunk; bench.ingestion's corpus on 2 quiet cores (docs/benchmarks.md): at 1,000 structures inline
# and 2 workers were equal (441-449 vs 437-446 structures/s), at 3,000 the workers 1.5x faster (600
# vs 400). On a machine whose other core is busy the workers cannot win (at 1,000: 261 vs 475).
INLINE_BELOW = 1000


def pool_for(items: int, workers: int | None = None) -> WorkerPool:
    """The pool for ``items`` structures: ``workers`` (default ``workers_default()``) processes, or
    inline below ``INLINE_BELOW``."""
    return WorkerPool(workers or workers_default() if items >= INLINE_BELOW else 1)


class WorkerPool:
    """Runs chunks inline (``workers`` <= 1) or in spawned worker processes, in order."""

    def __init__(self, workers: int) -> None:
        self.workers, self.executor = workers, None

    def imap(self, fn: Callable, chunks: Iterable, *args) -> Iterator:
        """``fn(chunk, *args)`` for each chunk, in order; at most ``2 * workers`` chunks in flight."""
        chunks = iter(chunks)
        if self.workers <= 1:
            yield from (fn(c, *args) for c in chunks)
            return
        if self.executor is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        pending: deque = deque()
        try:
            while True:
                while len(pending) < 2 * self.workers and (chunk := next(chunks, None)) is not None:
                    pending.append((chunk, self.executor.submit(fn, chunk, *args)))
                if not pending:
                    return
                yield pending[0][1].result()
                pending.popleft()
        except BrokenProcessPool:
            # a worker could not start (a script without an ``if __name__ == "__main__":`` guard
            # re-runs itself under spawn) or died: do the rest here instead
            logger.warning("worker processes failed to run; working in this process instead")
            self.executor.shutdown(cancel_futures=True)
            self.executor, self.workers = None, 1
            for chunk, _ in pending:
                yield fn(chunk, *args)
            yield from (fn(c, *args) for c in chunks)

    def map(self, fn: Callable, chunks: list, *args) -> list:
        """``imap`` as a list; a single chunk runs inline (no worker start for it)."""
        if len(chunks) <= 1:
            return [fn(c, *args) for c in chunks]
        return list(self.imap(fn, chunks, *args))

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown()
