"""The model leaderboard: every model and partition materialized so far, read from the files on disk.

Walks ``models/<asset>/<partition>/metrics.json`` (and ``run_record.json`` beside it) under a project
root, skipping working state (``.work``, hidden folders), candidates (``candidates/``, ``tuning/``) and
folders without ``metrics.json``; a model file changed since training (``files.sha256``) is
refused. Each model gives one row per property it predicts:

- regression (CGCNN, the e3nn multitask model and specialists): test MAE beside the mean predictor's
  MAE (``baseline_mad``, the training mean applied to the test set);
- binary classification (random forest, TopoGNN): test balanced accuracy beside 0.5, the balanced
  accuracy of any constant predictor (the majority class included); ROC-AUC is reported too;
- the MACE potential: energy, force and stress MAE over all elements, each beside its trivial baseline
  (E0-only energy, zero force, zero stress; matassets/training/potential_eval.py).

``ratio`` is how many times better than its baseline a model is, in the direction of
``metrics.json``'s ``mad_mae_ratio`` (higher is better, 1 = the baseline): baseline MAE / MAE for
regression and the potential, balanced accuracy / 0.5 for classification.
``relative_error`` puts them on one unit-free scale, lower is better and 1 = the baseline:
MAE / baseline for regression, (1 - balanced accuracy) / 0.5 for classification.

Models are ranked only against models scored on the same test set: ``test_set`` is the split hash
in the run record (every GNN of a partition shares the partition's split manifest; the random forest
draws its own formula-grouped split; MACE uses the official mlearn test). The best model for a
property is the lowest ``relative_error`` among models of the same partition and test set that beat
their baseline (``relative_error`` < 1): a model worse than its baseline is never starred, and two
models on different test sets are never compared; :func:`best_per_property` reports the best of the
largest partition that has the property, on the test set most of its models share.

No dagster import; the asset is ``matassets.assets.leaderboard``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from matassets.io import atomic_write, read_json_dict
from matassets.levels import PARTITIONS
from matassets.paths import EMBEDDED, Layout
from matassets.reports.tables import markdown_table
from matassets.training.model_folder import verify

COLUMNS = (
    "property",
    "kind",
    "asset",
    "partition",
    "test_set",
    "metric",
    "unit",
    "test",
    "baseline",
    "ratio",
    "relative_error",
    "val",
    "roc_auc",
    "n_test",
    "duration_s",
    "finished_at",
    "best",
)

# MACE: (property, metric key, baseline key) in metrics["<split>"]["all"]
_POTENTIAL = (
    ("energy (meV/atom)", "energy_mae_meV_per_atom", "energy_baseline_mae_meV_per_atom"),
    ("forces (meV/Å)", "force_mae_meV_per_A", "force_baseline_mae_meV_per_A"),
    ("stress (GPa)", "stress_mae_GPa", "stress_baseline_mae_GPa"),
)
_POTENTIAL_UNITS = {"energy (meV/atom)": "meV/atom", "forces (meV/Å)": "meV/Å", "stress (GPa)": "GPa"}
_SKIP = {"tuning", "candidates", "leaderboard"}


def unit(prop: str) -> str:
    """A property's unit from the canonical property list ("" when unknown or unit-free)."""
    from matassets.datasets.properties import canonical_properties

    target = canonical_properties().get(prop)
    return getattr(target, "unit", "") or ""


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def rows_from_metrics(metrics: dict) -> list[dict]:
    """The leaderboard rows (without asset, partition or run details) one ``metrics.json`` gives.

    Unknown shapes give no rows rather than an error: the leaderboard reads whatever is on disk.
    """
    test, val = metrics.get("test"), metrics.get("val")
    if not isinstance(test, dict):
        return []
    val = val if isinstance(val, dict) else {}
    rows = []
    if isinstance(test.get("all"), dict):  # the MACE potential: per split, per element and "all"
        t_all, v_all = test["all"], val.get("all") if isinstance(val.get("all"), dict) else {}
        for prop, key, base in _POTENTIAL:
            if _number(t_all.get(key)) is not None:
                rows.append(_row(prop, "potential", "MAE", t_all.get(key), t_all.get(base), v_all.get(key)))
        return rows
    for task, m in test.items():
        if not isinstance(m, dict) or not m.get("n"):
            continue
        v = val.get(task) if isinstance(val.get(task), dict) else {}
        if _number(m.get("mae")) is not None:
            rows.append(_row(task, "regression", "MAE", m["mae"], m.get("baseline_mad"), v.get("mae")))
        elif _number(m.get("balanced_accuracy")) is not None:
            row = _row(
                task,
                "classification",
                "balanced accuracy",
                m["balanced_accuracy"],
                0.5,
                v.get("balanced_accuracy"),
            )
            row["roc_auc"] = _number(m.get("roc_auc"))
            rows.append(row)
    return rows


def _row(prop, kind, metric, test, baseline, val) -> dict:
    test, baseline, val = _number(test), _number(baseline), _number(val)
    if kind == "classification":  # higher is better: accuracy / 0.5
        ratio = test / baseline if test is not None and baseline else None
        relative = (1.0 - test) / 0.5 if test is not None else None
    else:  # an error: MAD / MAE like metrics.json's mad_mae_ratio, and MAE / MAD lower-is-better
        ratio = baseline / test if test and baseline is not None else None
        relative = test / baseline if test is not None and baseline else None
    return {
        "property": prop,
        "kind": kind,
        "metric": metric,
        "unit": _POTENTIAL_UNITS.get(prop, "") if kind == "potential" else unit(prop),
        "test": test,
        "baseline": baseline,
        "ratio": ratio,
        "relative_error": relative,
        "val": val,
        "roc_auc": None,
    }


def gather(root: Path, dataset: str = EMBEDDED) -> list[dict]:
    """Every model's rows of ``dataset`` (``Layout.models``: the embedded set's leave out the
    registered data sets' ``models/datasets/``), sorted by property, partition, relative error;
    ``best`` marks the lowest relative error per (property, partition) among rows that beat their
    baseline (relative error < 1). A registered data set's own properties take their manifest's unit."""
    layout = Layout(Path(root), dataset)
    models = layout.models()
    rows: list[dict] = []
    if not models.is_dir():
        return rows
    units = {} if dataset == EMBEDDED else _manifest_units(dataset, layout.root)
    for asset_dir in sorted(p for p in models.iterdir() if p.is_dir()):
        if asset_dir.name.startswith(".") or asset_dir.name in _SKIP or asset_dir == layout.datasets_models():
            continue
        for part_dir in sorted(p for p in asset_dir.iterdir() if p.is_dir()):
            name = part_dir.name
            if name.startswith(".") or name in _SKIP or name.endswith(".previous"):
                continue
            metrics = read_json_dict(part_dir / "metrics.json")
            if metrics is None:
                continue
            verify(part_dir)  # a model file changed since training is refused, naming it
            record = read_json_dict(part_dir / "run_record.json") or {}
            for row in rows_from_metrics(metrics):
                rows.append(
                    {
                        **row,
                        "unit": units.get(row["property"], row["unit"]),
                        "asset": asset_dir.name,
                        "partition": name,
                        "test_set": _test_set(record, row["kind"]),
                        "n_test": (metrics["test"].get(row["property"]) or {}).get("n")
                        if row["kind"] != "potential"
                        else None,
                        "duration_s": _number(record.get("duration_s")),
                        "finished_at": record.get("finished_at"),
                    }
                )
    order = {p: i for i, p in enumerate(PARTITIONS)}
    rows.sort(
        key=lambda r: (
            r["property"],
            order.get(r["partition"], len(order)),
            r["partition"],
            r["relative_error"] if r["relative_error"] is not None else math.inf,
            r["asset"],
        )
    )
    seen: set[tuple[str, str, str]] = set()
    for r in rows:
        key = (r["property"], r["partition"], r["test_set"])
        r["best"] = r["relative_error"] is not None and r["relative_error"] < 1.0 and key not in seen
        if r["best"]:
            seen.add(key)
    return [{c: r.get(c) for c in COLUMNS} for r in rows]


def _manifest_units(dataset: str, root: Path) -> dict[str, str]:
    from matassets import datasets

    return {p.name: p.unit for p in datasets.get(dataset, root).properties}


def _test_set(record: dict, kind: str) -> str:
    """Which test set a model was scored on: its split hash (short), or the official mlearn test."""
    if kind == "potential":
        return "mlearn official test"
    split = record.get("split_hash")
    return str(split)[:8] if split else "unknown"


def best_per_property(rows: list[dict]) -> dict[str, dict]:
    """Property → the best row of the largest partition (PARTITIONS order) that has the property, on
    the test set shared by most of that partition's models of the property."""
    order = {p: i for i, p in enumerate(PARTITIONS)}
    groups: dict[tuple[str, str], dict[str, list[dict]]] = {}
    for r in rows:
        groups.setdefault((r["property"], r["partition"]), {}).setdefault(r["test_set"], []).append(r)
    out: dict[str, dict] = {}
    for (prop, partition), by_test_set in groups.items():
        shared = max(by_test_set.values(), key=len)
        best = [r for r in shared if r["best"]]
        current = out.get(prop)
        if best and (current is None or order.get(partition, -1) > order.get(current["partition"], -1)):
            out[prop] = best[0]
    return out


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "★" if value else ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown(rows: list[dict], columns=COLUMNS) -> str:
    if not rows:
        return "_no trained models under models/ yet_"
    table = markdown_table(columns, ([_cell(r.get(c)) for c in columns] for r in rows))
    return (
        table + "\n\n★ = best among the models of the same partition scored on the same test set (test_set)."
    )


def write_csv(rows: list[dict], path: Path) -> Path:
    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(COLUMNS))
            writer.writeheader()
            writer.writerows({c: "" if r.get(c) is None else r[c] for c in COLUMNS} for r in rows)

    return atomic_write(path, write)
