"""The model table of docs/benchmarks.md, written from the model folders and checked against dvc.lock.

:func:`model_rows` reads every current model folder of the chosen levels (``metrics.json``,
``run_record.json``) that ``dvc.lock`` records as it is now: one row per model and property with the
test metric and its unit, the baseline, the ensemble size and, for an ensemble's regression property,
its calibration on the test split (:func:`calibration_cell`), the wall time, the device
(:func:`device_cell`), the load average and git SHA taken when the run started, and the folder's
md5 in ``dvc.lock``. A folder that differs from ``dvc.lock`` (or is not in it) gives no row: its
numbers could not be traced back. :func:`write_section` puts the table between :data:`START` and
:data:`END` and leaves the rest of the page alone; :func:`check_section` lists every row whose md5
is not the one ``dvc.lock`` records for its stage.
"""

from __future__ import annotations

from pathlib import Path

from matassets.io import read_json_dict
from matassets.paths import Layout
from matassets.reports.tables import coverage, markdown_table

START, END = "<!-- models:start -->", "<!-- models:end -->"
HEADER = (
    "model", "level", "property", "test", "baseline", "ensemble", "calibration (test)", "wall time",
    "device", "load at start", "git SHA at start", "dvc.lock md5",
)  # fmt: skip


def model_rows(root: Path, partitions: list[str]) -> tuple[list[list], list[str]]:
    """(the table's rows, why each skipped folder was left out)."""
    from matassets.families import FAMILIES
    from matassets.reports.leaderboard import rows_from_metrics
    from matassets.versioning import dvc_md5, lock_hashes

    root, layout = Path(root), Layout(Path(root))
    rows, skipped = [], []
    for asset in (name for fam in FAMILIES for name in fam.asset_names()):
        for partition in partitions:
            folder = layout.model_dir(asset, partition)
            record = read_json_dict(folder / "run_record.json")
            if record is None:
                continue
            out = folder.relative_to(root).as_posix()
            locked = lock_hashes(root, f"{asset}@{partition}").get(out)
            now = dvc_md5(folder)
            if locked != now:
                skipped.append(f"{out}: md5 {now}, dvc.lock {locked or 'has no entry'}: not traceable")
                continue
            metrics = read_json_dict(folder / "metrics.json") or {}
            size = (metrics.get("ensemble") or {}).get("size", 1)
            sha = (record.get("git_sha") or "none")[:10] + (" (dirty)" if record.get("git_dirty") else "")
            for m in rows_from_metrics(metrics):
                unit = f" {m['unit']}" if m["unit"] else ""
                rows.append(
                    [
                        f"`{asset}`",
                        partition,
                        m["property"],
                        f"{m['metric']} {m['test']:.4g}{unit}",
                        m["baseline"],
                        size,
                        calibration_cell(metrics, m["property"]),
                        f"{record.get('duration_s', 0) / 60:.1f} min",
                        device_cell(record),
                        record.get("load_at_start"),
                        sha,
                        locked,
                    ]
                )
    return rows, skipped


def device_cell(record: dict) -> str:
    """Where the model trained, with the GPU's name: the record's ``device``; a record written before
    it had one names the preset's (MACE) or, for a GNN, whether torch saw a GPU (``auto`` then)."""
    gpu = (record.get("hardware") or {}).get("cuda")
    device = record.get("device") or (record.get("preset") or {}).get("device") or ("cuda" if gpu else "cpu")
    return f"{device} ({gpu})" if device.startswith("cuda") and gpu else device


def calibration_cell(metrics: dict, task: str) -> str:
    """An ensemble's calibration of ``task`` on the test split, as ``metrics.json`` holds it
    (``training.ensemble.calibration``): the miscalibration area and the fractions of errors within
    1σ and 2σ (0.68 and 0.95 when calibrated), then those fractions with the spread scaled by the
    factor fitted on validation (``test_scaled``); "—" for one model or a classifier."""
    by_split = (metrics.get("calibration") or {}).get(task) or {}
    test, scaled = by_split.get("test") or {}, by_split.get("test_scaled")
    if not test.get("n"):
        return "—"
    cell = f"area {test['miscalibration_area']:.3f}, {coverage(test['within_1sigma'], test['within_2sigma'])}"
    if scaled:
        cell += f"; σ × {scaled['scale']:.2f}: {coverage(scaled['within_1sigma'], scaled['within_2sigma'])}"
    return cell


def section(rows: list[list]) -> str:
    table = markdown_table(HEADER, rows) if rows else "_No locked model table yet._"
    return f"{START}\n{table}\n{END}"


def write_section(text: str, rows: list[list], path: Path) -> str:
    """``text`` (the page at ``path``) with the model table between the markers."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{path}: no {START} ... {END} block to write the model table into")
    return text[:start] + section(rows) + text[end + len(END) :]


def check_section(text: str, root: Path, path: Path) -> list[str]:
    """Every problem of the model table in ``text``: a row whose ``dvc.lock md5`` is not the md5
    ``dvc.lock`` in ``root`` records for its model folder (stage ``<model>@<level>``)."""
    from matassets.versioning import lock_hashes

    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        return [f"{path}: no {START} ... {END} block"]
    first = text.count("\n", 0, start) + 1
    lines = text[start:end].splitlines()
    problems = []
    header: list[str] | None = None
    for offset, line in enumerate(lines):
        if not line.startswith("|") or line.startswith("|---"):
            continue
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            missing = {"model", "level", "dvc.lock md5"} - set(header)
            if missing:
                return [f"{path} line {first + offset}: the model table has no column {sorted(missing)}"]
            continue
        row = dict(zip(header, cells, strict=False))
        model, level, md5 = row.get("model"), row.get("level"), row.get("dvc.lock md5")
        locked = set(lock_hashes(root, f"{model}@{level}").values())
        if md5 not in locked:
            problems.append(
                f"{path} line {first + offset}: {model} [{level}] names dvc.lock md5 {md5!r}; "
                f"dvc.lock has {sorted(locked) or 'no entry'} for {model}@{level}"
            )
    return problems
