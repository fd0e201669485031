"""A plain-text summary of a level's data and models, read from the files on disk."""

from __future__ import annotations

import json

import polars as pl

from matassets.paths import Layout, default_root


def print_summary(partition: str) -> int:
    from matassets.data.pipeline import current_graphs_path, load_splits
    from matassets.graphs.store import load_store

    layout = Layout(default_root())
    if not layout.structures(partition).exists():
        print(f"no data for level {partition} yet: run `matassets data --level {partition}`")
        return 1
    raw = pl.read_parquet(layout.raw(partition))
    clean = pl.read_parquet(layout.structures(partition))
    quarantine = pl.read_parquet(layout.quarantine(partition))
    print(f"== level {partition} ==")
    print(
        f"raw rows: {raw.height}   clean (after the level's cap): {clean.height}   "
        f"quarantined entries: {quarantine.height}"
    )
    for row in quarantine.head(5).iter_rows(named=True):
        print(f"  quarantined {row['id']} ({row['origin']}) {row['field']}: {row['reason']}")
    manifest = load_splits(layout, partition)
    print(f"splits ({manifest.strategy}, seed {manifest.seed}, hash {manifest.hash}): {manifest.sizes()}")
    print(f"graphs: {load_store(current_graphs_path(layout, partition)).stats()}")
    models = sorted(layout.root.glob(f"models/*/{partition}/metrics.json"))
    for path in models:
        metrics = json.loads(path.read_text(encoding="utf-8"))
        for task, m in metrics["test"].items():
            shown = ", ".join(f"{k} {m[k]:.4g}" for k in ("mae", "baseline_mad", "r2", "accuracy") if k in m)
            print(f"model {path.parent.parent.name}: test {task}: {shown} (n={m['n']})")
    return 0
