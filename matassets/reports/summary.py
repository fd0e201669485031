"""A plain-text summary of a level's data and models, read from the files on disk."""

from __future__ import annotations

import json

from matassets.paths import EMBEDDED, Layout, default_root
from matassets.training.model_folder import verify


def print_summary(partition: str, layout: Layout | None = None) -> int:
    """A level's data and models: the embedded set's, or a registered data set's (``layout``)."""
    from matassets.data.pipeline import current_graphs_path, load_splits
    from matassets.graphs.sharded import load_store

    layout = layout or Layout(default_root())
    if not layout.structures(partition).exists():
        command = "data" if layout.dataset == EMBEDDED else f"dataset train {layout.dataset}"
        print(f"no data for level {partition} yet: run `matassets {command} --level {partition}`")
        return 1
    from matassets.data.tables import read_table

    raw = read_table(layout.raw(partition), "raw_structures", partition)
    clean = read_table(layout.structures(partition), "structures", partition)
    quarantine = read_table(layout.quarantine(partition), "structures", partition)
    print(
        f"== level {partition} ==" + ("" if layout.dataset == EMBEDDED else f" (data set {layout.dataset})")
    )
    print(
        f"raw rows: {raw.height}   clean (after the level's cap): {clean.height}   "
        f"quarantined entries: {quarantine.height}"
    )
    for row in quarantine.head(5).iter_rows(named=True):
        print(f"  quarantined {row['id']} ({row['origin']}) {row['field']}: {row['reason']}")
    manifest = load_splits(layout, partition)
    print(f"splits ({manifest.strategy}, seed {manifest.seed}, hash {manifest.hash}): {manifest.sizes()}")
    print(f"graphs: {load_store(current_graphs_path(layout, partition)).stats()}")
    for line in model_lines(layout, partition, dict(clean.select("id", "formula").iter_rows())):
        print(line)
    return 0


def model_lines(layout: Layout, partition: str, formulas: dict[str, str] | None = None) -> list[str]:
    """One line per trained model and property of ``partition``: the test metric with its unit beside
    its baseline, read with the leaderboard's reader (every metrics.json shape: regression,
    classification, the MACE potential's per-element table); with ``formulas`` (id → formula of the
    level's crystals), a line on the test crystals holding an element no training crystal held."""
    from matassets.reports.leaderboard import rows_from_metrics

    lines = []
    for path in sorted(layout.models().glob(f"*/{partition}/metrics.json")):
        verify(path.parent)  # refuses a model file changed since training, naming it
        metrics = json.loads(path.read_text(encoding="utf-8"))
        rows = rows_from_metrics(metrics)
        if not rows:
            lines.append(f"model {path.parent.parent.name}: metrics.json has no test metrics")
        for row in rows:
            n = (metrics["test"].get(row["property"]) or {}).get("n") if row["kind"] != "potential" else None
            lines.append(
                f"model {path.parent.parent.name}: test {row['property']}: {headline(row)}"
                + (f" (n={n})" if n else "")
            )
        if formulas is not None:
            lines += _extrapolated(path.parent, formulas)
    return lines


def _extrapolated(folder, formulas: dict[str, str]) -> list[str]:
    """``  test crystals holding an element no training crystal held: k of n (Ce, Sm)`` for a model
    folder that records its training elements (``inference.domain``); their errors are part of the
    test metric above. Nothing for a folder that does not."""
    import polars as pl

    from matassets.inference import domain

    if not (folder / "config.json").is_file() or not (folder / "predictions.csv").is_file():
        return []  # the MACE potential's folder has no config.json
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if domain.KEY not in config:
        return []
    rows = pl.read_csv(folder / "predictions.csv", infer_schema=False).filter(pl.col("split") == "test")
    tested = rows["formula"] if "formula" in rows.columns else [formulas.get(i) for i in rows["id"]]
    unseen = [domain.unseen(config, f) for f in tested if f]
    held = sorted({e for u in unseen for e in u})
    return [
        f"  test crystals holding an element no training crystal held: {sum(map(bool, unseen))} of "
        f"{len(unseen)}" + (f" ({', '.join(held)})" if held else "")
    ]


def headline(row: dict) -> str:
    """``MAE 0.123 eV/atom vs baseline 0.456 eV/atom (ratio 3.71: better)`` for a leaderboard row
    (ratio: baseline / MAE or accuracy / 0.5, higher is better, as metrics.json's mad_mae_ratio)."""
    unit = f" {row['unit']}" if row.get("unit") else ""

    def number(v) -> str:
        return "n/a" if v is None else f"{v:.4g}"

    text = f"{row['metric']} {number(row['test'])}{unit} vs baseline {number(row['baseline'])}{unit}"
    ratio = row.get("ratio")
    if ratio is not None:
        text += f" (ratio {ratio:.3g}: " + ("better)" if ratio > 1 else "NOT better than the baseline)")
    return text
