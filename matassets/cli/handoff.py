"""``handoff``: recent runs' handoff records (``run_record.json`` beside each model) as Markdown and CSV.

The runbook's per-run record (phase, algorithm, mode, level, command, overrides, output folder,
validation/test metrics, notes) is written by every model materialization; this collects them,
newest first, into the table a team hands over.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

from matassets.cli import _common as common
from matassets.paths import EMBEDDED, Layout
from matassets.reports.tables import markdown_table

ORDER = 50
COLUMNS = (
    "finished_at",
    "phase",
    "algorithm",
    "asset",
    "mode",
    "level",
    "val",
    "test",
    "duration_s",
    "git",
    "dagster_run_id",
    "command",
    "overrides",
    "output_dir",
    "notes",
)
# metric names shown in the summary (at most three, each main metric beside its baseline)
PREFERRED = (
    "mae",
    "baseline_mad",
    "balanced_accuracy",
    "accuracy",
    "baseline_accuracy",
    "f1",
    "roc_auc",
    "mae_e_per_atom",
    "mae_f",
    "rmse",
    "r2",
)


def find_records(layout: Layout) -> list[Path]:
    """Every run_record.json of the data set's models (skipping half-written and replaced folders;
    the embedded set's leave out ``models/datasets/``, the registered data sets')."""
    models = layout.models()
    if not models.is_dir():
        return []
    others = layout.datasets_models() if layout.dataset == EMBEDDED else None
    return [
        p
        for p in models.rglob("run_record.json")
        if not any(part.startswith(".") or part.endswith((".previous", ".staging")) for part in p.parts)
        and (others is None or others not in p.parents)
    ]


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def metrics_summary(metrics: object) -> str:
    """``{"formation_energy": {"mae": 0.1, ...}}`` → ``formation_energy mae=0.1`` (or a flat dict)."""
    if not isinstance(metrics, dict) or not metrics:
        return ""

    def pick(m: dict) -> str:
        keys = [k for k in PREFERRED if isinstance(m.get(k), int | float)]
        if not keys:
            keys = [k for k, v in m.items() if isinstance(v, int | float) and k != "n"][:2]
        return " ".join(f"{k}={_fmt(m[k])}" for k in keys[:3])

    if all(isinstance(v, dict) for v in metrics.values()):
        return "; ".join(f"{task} {pick(m)}" for task, m in metrics.items())
    return pick(metrics)


def row(record: dict, path: Path, models: Path) -> dict[str, str]:
    """One table row; the asset is the folder under ``models/`` (a tuning round's too)."""
    output_dir = Path(record.get("output_dir") or path.parent)
    sha = record.get("git_sha") or ""
    git = (sha[:8] + ("+dirty" if record.get("git_dirty") else "")) if sha else ""
    notes = record.get("notes") or []
    return {
        "finished_at": str(record.get("finished_at", "")),
        "phase": str(record.get("phase", "")),
        "algorithm": str(record.get("algorithm", "")),
        "asset": path.relative_to(models).parts[0],
        "mode": str(record.get("mode", "")),
        "level": str(record.get("level") or ""),
        "val": metrics_summary(record.get("val_metrics")),
        "test": metrics_summary(record.get("test_metrics")),
        "duration_s": _fmt(record.get("duration_s", "")),
        "git": git,
        "dagster_run_id": str(record.get("dagster_run_id") or ""),
        "command": str(record.get("command", "")),
        "overrides": json.dumps(record.get("overrides") or {}, sort_keys=True),
        "output_dir": str(output_dir),
        "notes": "; ".join(map(str, notes)) if isinstance(notes, list) else str(notes),
    }


def collect(layout: Layout, level: str | None = None, limit: int | None = None) -> list[dict[str, str]]:
    """The handoff rows of the data set's models, newest first; ``level`` filters by partition."""
    rows = []
    for path in find_records(layout):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            print(f"warning: skipping {path}: {exc}", file=sys.stderr)
            continue
        if level and record.get("partition", record.get("level")) != level:
            continue
        rows.append(row(record, path, layout.models()))
    rows.sort(key=lambda r: r["finished_at"], reverse=True)
    return rows[:limit] if limit else rows


def to_markdown(rows: list[dict[str, str]]) -> str:
    shown = [c for c in COLUMNS if c not in ("output_dir", "dagster_run_id")]
    table = []
    for r in rows:
        cells = [r[c] for c in shown]
        cells[shown.index("command")] = f"`{r['command']}`" if r["command"] else ""
        table.append(cells)
    return markdown_table(shown, table) + "\n"


def to_csv(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def cmd_handoff(args: argparse.Namespace) -> int:
    from matassets.io import atomic_write

    try:
        layout = common.dataset_layout(args.dataset)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = collect(layout, args.level, args.limit)
    if not rows:
        level = f" for level {args.level}" if args.level else ""
        print(f"no run records under {layout.models()}{level}")
        return 1
    title = (
        f"# Handoff: {len(rows)} run(s)"
        + (f", data set {args.dataset}" if args.dataset != EMBEDDED else "")
        + (f", level {args.level}" if args.level else "")
        + "\n\n"
    )
    markdown = title + to_markdown(rows)
    if args.out:
        out = Path(args.out)
        for name, text in (("handoff.md", markdown), ("handoff.csv", to_csv(rows))):
            atomic_write(out / name, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8"))
            print(f"wrote {out / name}")
    else:
        print(to_csv(rows) if args.format == "csv" else markdown, end="")
    return 0


def register(sub) -> None:
    p = sub.add_parser("handoff", help="recent runs' handoff records as a Markdown table and CSV")
    p.add_argument("--level", help="only this partition (smoke … max, competition)")
    common.dataset_arg(p)
    p.add_argument("--limit", type=int, default=50, help="newest N runs (default 50; 0 = all)")
    p.add_argument("--out", help="folder to write handoff.md and handoff.csv into")
    p.add_argument("--format", choices=("md", "csv"), default="md", help="stdout format without --out")
    p.set_defaults(func=cmd_handoff)
