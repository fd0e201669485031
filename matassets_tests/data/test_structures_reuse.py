"""Validation is skipped when the raw table, the preset and the code are those of the stored tables."""

import dataclasses

import polars as pl

from matassets.data.pipeline import build_structures
from matassets.data.tables import write_table
from matassets.levels import DATA
from matassets.paths import Layout


def test_unchanged_inputs_reuse_the_tables_and_any_change_revalidates(smoke_copy):
    layout = Layout(smoke_copy)
    preset = DATA["smoke"]
    first, _ = build_structures(layout, "smoke", preset)  # the fixture's tables, or fresh ones
    files = [layout.structures("smoke"), layout.quarantine("smoke")]
    stamps = [f.stat().st_mtime_ns for f in files]

    again, reused = build_structures(layout, "smoke", preset)
    assert reused
    assert [f.stat().st_mtime_ns for f in files] == stamps  # nothing rewritten
    assert again.clean.collect().equals(first.clean.collect()) and again.quarantine.equals(first.quarantine)

    stricter = dataclasses.replace(preset, min_distance=2.2)  # a new plausibility rule
    changed, reused = build_structures(layout, "smoke", stricter)
    assert not reused
    assert changed.quarantine.height > first.quarantine.height
    assert pl.read_parquet(layout.quarantine("smoke")).height == changed.quarantine.height

    raw = pl.read_parquet(layout.raw("smoke"))
    write_table(raw.head(raw.height - 1), layout.raw("smoke"))  # new data
    _, reused = build_structures(layout, "smoke", stricter)
    assert not reused
