"""Shared helpers for the benchmarks: the embedded structures, timing and peak memory."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def embedded_structures(limit: int | None = None) -> tuple[list[str], list]:
    """The embedded set's ids and parsed structures (the first ``limit`` of them)."""
    from matassets.data.embedded import load_embedded
    from matassets.data.parsing import parse_structure

    frame = load_embedded().head(limit) if limit else load_embedded()
    return frame["id"].to_list(), [parse_structure(s, "pymatgen_json") for s in frame["structure"]]


def timed(fn: Callable[[], object], repeat: int = 1) -> tuple[float, object]:
    """Best wall time of ``repeat`` calls, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def peak_rss_mb(pid: int | str = "self") -> float:
    """A process's peak resident set (MB; this one by default): ``VmHWM`` of /proc/<pid>/status.

    Not ``ru_maxrss``: the kernel keeps the larger of the current address space's high-water mark and
    the one saved at ``exec`` (``signal->maxrss``), so a child started by fork + exec from a 400 MB
    parent reports at least 400 MB for its whole life, and ``/proc/self/clear_refs`` cannot reset it.
    ``VmHWM`` belongs to the exec'ed address space alone and is reset by ``clear_refs`` (5).
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        if pid != "self":
            return float("nan")  # the process has ended
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: an upper bound
