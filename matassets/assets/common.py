"""What every asset shares: the level partitions and small metadata helpers."""

from __future__ import annotations

import dagster as dg

from matassets.levels import PARTITIONS

levels_partitions = dg.StaticPartitionsDefinition(list(PARTITIONS))


def table_metadata(rows: list[dict], limit: int = 20) -> dg.MetadataValue:
    """A list of dicts as a Markdown table in the UI (first ``limit`` rows)."""
    if not rows:
        return dg.MetadataValue.md("_none_")
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"\n… {len(rows) - limit} more")
    return dg.MetadataValue.md("\n".join(lines))
