"""Turn a trained model's outputs into what the Dagster UI shows."""

import base64
from pathlib import Path

import dagster as dg

from matassets.levels import preset_metadata
from matassets.reports.tables import headline_metric, markdown_table

REGRESSION_COLUMNS = ("n", "mae", "rmse", "r2", "max_ae", "baseline_mad", "mad_mae_ratio")


def image(path: Path) -> dg.MetadataValue:
    """A plot as Markdown: under the project's ``models/``, a short link to ``matassets ui``'s route
    (``ui/files.py``; short enough that the asset page draws it without a click), naming the file's
    content; elsewhere the PNG itself, base64 (Dagster shows it behind *[Show Markdown]*)."""
    url = _url(path)
    if url is None:
        data = base64.b64encode(path.read_bytes()).decode()
        return dg.MetadataValue.md(f"![{path.stem}](data:image/png;base64,{data})")
    from matassets.io import sha256_file

    return dg.MetadataValue.md(f"![{path.stem}]({url}?sha256={sha256_file(path)})")


def _url(path: Path) -> str | None:
    """``path``'s address on the route, or None outside ``<project root>/models/``."""
    from urllib.parse import quote

    from matassets.paths import default_root
    from matassets.ui.files import ROUTE

    root = default_root().resolve()
    path = Path(path).resolve()
    if not path.is_relative_to(root / "models"):
        return None
    return ROUTE + quote(path.relative_to(root).as_posix())


def moved(meta: dict, old: Path, new: Path) -> dict:
    """``meta`` with its plot links into folder ``old`` pointing into ``new`` (a promoted candidate's
    plots are read from the model folder it became)."""
    before, after = _url(Path(old)), _url(Path(new))
    if before is None or after is None or before == after:
        return meta
    out = dict(meta)
    for key, value in meta.items():
        if isinstance(value, dg.MarkdownMetadataValue) and value.value.startswith("!["):
            out[key] = dg.MetadataValue.md(value.value.replace(f"]({before}/", f"]({after}/", 1))
    return out


def split_table(metrics: dict, task: str, columns: tuple[str, ...]) -> dg.MetadataValue:
    """Train/val/test rows of ``task``'s metrics (``columns`` of each split's entry)."""
    rows = []
    for split in ("train", "val", "test"):
        m = metrics.get(split, {}).get(task) or {}
        rows.append([split, *(m.get(c) for c in columns)])
    return dg.MetadataValue.md(markdown_table(["split", *columns], rows))


def regression_table(metrics: dict, task: str) -> dg.MetadataValue:
    return split_table(metrics, task, REGRESSION_COLUMNS)


def headline_numbers(metrics: dict) -> dict[str, dg.MetadataValue]:
    """A model's key numbers as float metadata under the same keys at every materialization (so the
    UI's Plots tab draws them across materializations): per property the test metric, its baseline
    and their ratio (higher is better, as the leaderboard and ``mad_mae_ratio``), units in the key."""
    from matassets.reports.leaderboard import rows_from_metrics

    out: dict[str, dg.MetadataValue] = {}
    for row in rows_from_metrics(metrics):
        unit = f" ({row['unit']})" if row["unit"] and row["unit"] not in row["property"] else ""
        name = f"{row['property']}{unit}"
        for key, value in (
            (f"test {row['metric']} {name}", row["test"]),
            (f"baseline {name}", row["baseline"]),
            (f"ratio to baseline {row['property']}", row["ratio"]),
        ):
            if value is not None:
                out[key] = dg.MetadataValue.float(float(value))
    return out


def model_metadata(output, preset, plots: list[str]) -> dict[str, object]:
    record = output.record
    meta: dict[str, object] = {
        **headline_numbers(output.metrics),
        "model path": dg.MetadataValue.path(str(output.model_dir)),
        "preset": dg.MetadataValue.json(preset_metadata(preset)),
        "best epoch": output.fit.best_epoch,
        "epochs run": output.fit.epochs_run,
        "stop reason": output.fit.stop_reason,
        "data_hash": record["data_hash"],
        "split_hash": record["split_hash"],
        "duration s": dg.MetadataValue.float(float(record["duration_s"])),
        "command": dg.MetadataValue.text(record["command"]),
        "run record": dg.MetadataValue.path(str(output.model_dir / "run_record.json")),
    }
    if output.skipped:
        meta["training"] = dg.MetadataValue.text(output.skipped)
    if record.get("warm_start"):
        meta["warm start"] = dg.MetadataValue.json(record["warm_start"])
    for name in [*plots, "training_elements.png"]:  # every graph model's (graph_report.elements_plot)
        path = output.model_dir / name
        if path.exists():
            meta[path.stem.replace("_", " ")] = image(path)
    meta.update(ensemble_metadata(output.model_dir))
    return meta


def ensemble_metadata(model_dir: Path) -> dict[str, object]:
    """An ensemble's size, its calibration table and ``calibration*.png``, its size curve (the mean
    of the first k members, training.ensemble.size_curve) as a table and ``ensemble_by_size.png``;
    nothing for a single model."""
    import json

    path = model_dir / "metrics.json"
    saved = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if "ensemble" not in saved:
        return {}
    meta: dict[str, object] = {"ensemble size": int(saved["ensemble"]["size"])}
    columns = ("n", "miscalibration_area", "within_1sigma", "within_2sigma", "mean_std", "mae", "scale")
    rows = [
        [task, split, *(values.get(c) for c in columns)]
        for task, by_split in (saved.get("calibration") or {}).items()
        for split, values in by_split.items()
    ]
    if rows:
        table = markdown_table(["property", "split", *columns], rows)
        meta["calibration numbers"] = dg.MetadataValue.md(table)
    curve = saved["ensemble"].get("by_size")  # folders written before it existed have none
    if curve:
        tasks = list(curve[0]["val"])
        key = headline_metric(curve[0]["val"][tasks[0]])
        rows = [
            [
                c["members"],
                round(c["train_seconds"] / 60, 1),
                *(c[s][t].get(key) for t in tasks for s in ("val", "test")),
            ]
            for c in curve
        ]
        header = ["members", "train min", *(f"{s} {key} {t}" for t in tasks for s in ("val", "test"))]
        meta["ensemble by size numbers"] = dg.MetadataValue.md(markdown_table(header, rows))
    for plot in [*sorted(model_dir.glob("calibration*.png")), model_dir / "ensemble_by_size.png"]:
        if plot.is_file():
            meta[plot.stem.replace("_", " ")] = image(plot)
    return meta


def provenance_metadata(output, asset: str) -> dict[str, object]:
    """Where a model came from: the runbook command its preset mirrors and every deviation from
    that row (the run record's ``runbook``, ``matassets.runbook``); for a current model of the
    project's own assets or of a registered data set's also ``matassets lineage``'s chain, as a
    short table and as JSON."""
    meta: dict[str, object] = {}
    block = (output.record or {}).get("runbook")
    if block and block["command"]:
        rows = [[d["field"], d["runbook"], d["ours"], d["why"]] for d in block["deviations"]]
        meta["runbook command"] = dg.MetadataValue.text(block["command"])
        meta["runbook deviations"] = dg.MetadataValue.md(
            markdown_table(["field", "runbook", "ours", "why"], rows) if rows else "none"
        )
        meta["runbook deviations (json)"] = dg.MetadataValue.json(block["deviations"])
    folder = output.folder
    if output.status == "current" and folder is not None:
        from matassets.reports.lineage import asset_name, lineage_table, model_lineage

        if asset == asset_name(folder.layout, folder.asset):  # a registered data set's too: D/x
            chain = model_lineage(folder.layout.root, folder.asset, folder.partition, folder.layout.dataset)
            meta["lineage"] = dg.MetadataValue.md(lineage_table(chain))
            meta["lineage (json)"] = dg.MetadataValue.json(chain)
    return meta
