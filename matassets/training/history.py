"""A model's history: one JSON line per version that became its current model (or was rejected).

``models/<asset>/<level>.history.jsonl``, beside the model folder and outside its DVC output, so
restoring an old version never rewrites the history. Appended by every promotion
(``model_folder.promote``) and by ``matassets reject``; read by ``matassets history`` and the UI.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

from matassets.io import read_json_dict
from matassets.paths import Layout

RECORD_KEYS = (
    "data_hash", "split_hash", "graphs_key", "git_sha", "git_diff_sha256", "reproducible",
    "code_version", "dagster_run_id", "command", "started_at", "finished_at", "input_key",
    "tuning_session", "tuning_round",
)  # fmt: skip


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _digest(folder: Path) -> str | None:
    path = Path(folder) / "files.sha256"
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else None


def history_entry(layout: Layout, asset: str, partition: str, final: Path, record: dict, **extra) -> dict:
    """The line of a version just promoted to ``final``: its metrics, inputs, provenance."""
    previous = read_history(layout, asset, partition)
    metrics = read_json_dict(final / "metrics.json") or {}
    return {
        "version": 1 + sum(1 for e in previous if e.get("event") == "promoted"),
        "event": "promoted",
        "at": now(),
        "asset": asset,
        "partition": partition,
        "candidate": record.get("promoted_from"),
        "files_sha256": _digest(final),
        "val": metrics.get("val"),
        "test": metrics.get("test"),
        **{k: record.get(k) for k in RECORD_KEYS},
        **extra,
    }


def append_history(layout: Layout, asset: str, partition: str, entry: dict) -> None:
    path = layout.model_history(asset, partition)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:  # one short append: a line is written whole
        fh.write(json.dumps(entry, sort_keys=True, default=str) + "\n")


def read_history(layout: Layout, asset: str, partition: str) -> list[dict]:
    path = layout.model_history(asset, partition)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
