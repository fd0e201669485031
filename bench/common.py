"""Shared helpers for the benchmarks: the embedded structures, timing and peak memory."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from functools import lru_cache


@lru_cache(maxsize=1)
def embedded_structures() -> tuple[list[str], list]:
    from matassets.data.embedded import load_embedded
    from matassets.data.parsing import parse_structure

    frame = load_embedded()
    return frame["id"].to_list(), [parse_structure(s, "pymatgen_json") for s in frame["structure"]]


def timed(fn: Callable[[], object], repeat: int = 1) -> tuple[float, object]:
    """Best wall time of ``repeat`` calls, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
