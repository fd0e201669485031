"""Graph building and streaming at scale: the sharded store against the single-file store for
1k → 6.3k → 50k → 100k structures (the embedded set replicated; quick: 1k and 6.3k).

Every (store kind, size, step) runs in a fresh Python process (fork + exec), which prints one JSON
line. Peak memory is that process's peak resident set (``VmHWM``, ``bench.common.peak_rss_mb``; not
``ru_maxrss``, which inherits the parent's size through exec): it counts what the kernel holds for
the process, numpy and torch buffers as much as Python objects (tracemalloc sees none of torch's
allocations). Just before the step the high-water mark is reset to the current resident set (Linux
``/proc/self/clear_refs``), so parsing the source structures does not hide the step's own peak;
``base`` is the resident set at that instant (interpreter, libraries, the 6.3k parsed source
structures) and ``peak − base`` is what the step itself needed.

Steps: ``build`` graphs n structures into a store on disk (sharded: one shard of
``DataPreset.shard_size`` at a time; single: all graphs, then one file); ``stream`` opens the store
and collates one epoch of shuffled batches of 64, as training reads it (sharded: shard-window
shuffle, at most 4 shards held).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import peak_rss_mb

CUTOFF, MAX_NEIGHBORS, BATCH = 8.0, 12, 64
KINDS = ("sharded", "single")


def reset_peak_rss_mb() -> float:
    """Reset this process's peak resident set to the current one (Linux) and return it (MB)."""
    import gc

    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    return peak_rss_mb()


def _build(kind: str, n: int, path: Path) -> dict:
    from itertools import cycle, islice

    from bench.common import embedded_structures, timed
    from matassets.graphs.sharded import build_sharded
    from matassets.graphs.store import GraphStore
    from matassets.levels import DATA

    _, structures = embedded_structures(limit=n)  # the whole set, replicated above its size
    base = reset_peak_rss_mb()
    ids = [f"r{i}" for i in range(n)]
    source = islice(cycle(structures), n)  # the embedded set replicated, never held as one list
    if kind == "sharded":
        shard_size = DATA["std"].shard_size
        seconds, _ = timed(lambda: build_sharded(path, ids, source, CUTOFF, MAX_NEIGHBORS, shard_size))
    else:
        seconds, _ = timed(lambda: GraphStore.build(ids, list(source), CUTOFF, MAX_NEIGHBORS).save(path))
    files = [path] if path.is_file() else list(path.iterdir())
    return {
        "build_s": seconds,
        "per_s": n / seconds,
        "build_base_mb": base,
        "build_peak_mb": peak_rss_mb(),
        "disk_mb": sum(f.stat().st_size for f in files) / 2**20,
    }


def _stream(kind: str, n: int, path: Path) -> dict:
    import numpy as np

    from bench.common import timed
    from matassets.graphs.sharded import load_store

    base = reset_peak_rss_mb()

    def epoch() -> int:
        store = load_store(path)
        index = np.arange(len(store))
        order = store.shuffle(index, seed=1)
        for start in range(0, len(order), BATCH):
            store.collate(index[order[start : start + BATCH]])
        return getattr(store, "loads", 1)

    seconds, loads = timed(epoch)
    return {
        "stream_s": seconds,
        "stream_graphs_per_s": n / seconds,
        "stream_base_mb": base,
        "stream_peak_mb": peak_rss_mb(),
        "shard_loads": loads,
    }


def _child(step: str, kind: str, n: int, path: Path) -> dict:
    cmd = [sys.executable, "-m", "bench.graph_memory", step, kind, str(n), str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parents[1])
    if out.returncode:
        raise RuntimeError(f"{' '.join(cmd[1:])} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> list[dict]:
    """One row per (size, store kind): build and stream seconds, rates, peak and base RSS (MB)."""
    sizes = (1000, 6317) if quick else (1000, 6317, 50_000, 100_000)
    rows = []
    for n in sizes:
        for kind in KINDS:
            with tempfile.TemporaryDirectory(prefix="graph_memory_") as tmp:
                path = Path(tmp) / ("graphs" if kind == "sharded" else "graphs.pt")
                row = {"n": n, "kind": kind, **_child("build", kind, n, path)}
                row.update(_child("stream", kind, n, path))
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict]) -> list[str]:
    """The rows as a Markdown table (bench/run.py and docs/benchmarks.md)."""
    lines = [
        "| structures | store | build s | structures/s | build peak MB (base) | stream epoch s | "
        "graphs/s | stream peak MB (base) | shard loads | disk MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['n']:,} | {r['kind']} | {r['build_s']:.1f} | {r['per_s']:.0f} | "
        f"{r['build_peak_mb']:.0f} ({r['build_base_mb']:.0f}) | {r['stream_s']:.1f} | "
        f"{r['stream_graphs_per_s']:.0f} | {r['stream_peak_mb']:.0f} ({r['stream_base_mb']:.0f}) | "
        f"{r['shard_loads'] if r['kind'] == 'sharded' else '–'} | {r['disk_mb']:.0f} |"
        for r in rows
    ]
    return lines


def main() -> None:
    if len(sys.argv) == 5:  # a child: one step
        step, kind, n, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
        print(json.dumps((_build if step == "build" else _stream)(kind, n, path)))
        return
    quick = "--quick" in sys.argv
    print("\n".join(table(run(quick))))


if __name__ == "__main__":
    main()
