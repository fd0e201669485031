"""The session's summary files: ``summary.json`` and ``summary.csv``, the runbook's columns."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from matassets.io import atomic_write, write_json

SUMMARY_COLUMNS: tuple[str, ...] = (
    "session_id",
    "phase",
    "algorithm",
    "asset",
    "stage",
    "round",
    "run_id",
    "return_code",
    "duration_sec",
    "metric",
    "metric_mode",
    "score",
    "prev_score",
    "relative_improvement",
    "noise",
    "move",
    "auto_tune_reason",
    "params_in",
    "params_out",
    "model_dir",
    "manifest_path",
    "promoted",
    "command",
)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def write_summary(folder: Path, meta: dict, rows: list[dict]) -> None:
    """``summary.json`` (session, targets and rows) and ``summary.csv`` (one row per round)."""
    clean = [{c: r.get(c) for c in SUMMARY_COLUMNS} for r in rows]
    write_json(Path(folder) / "summary.json", {**meta, "columns": list(SUMMARY_COLUMNS), "rows": clean})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(SUMMARY_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for r in clean:
        writer.writerow({c: _cell(v) for c, v in r.items()})
    text = buffer.getvalue()
    atomic_write(Path(folder) / "summary.csv", lambda tmp: tmp.write_text(text, encoding="utf-8"))
