"""A damaged parquet table names its path and the asset that rebuilds it (polars alone says
``parquet: File out of specification`` and no path, and every later run failed the same way); a
damaged stored ``structures`` table whose inputs are unchanged is revalidated instead of reused."""

from __future__ import annotations

import polars as pl
import pytest

from matassets.data.pipeline import build_splits, build_structures
from matassets.data.tables import CorruptTableError
from matassets.levels import DATA
from matassets.paths import Layout


def damage(path) -> None:
    data = bytearray(path.read_bytes())
    data[-40:] = b"\x00" * 40  # the footer: what every reader needs first
    path.write_bytes(bytes(data))


def test_a_damaged_table_names_its_path_and_how_to_rebuild_it(smoke_copy):
    layout = Layout(smoke_copy)
    structures = layout.structures("smoke")
    damage(structures)
    with pytest.raises(CorruptTableError) as info:
        build_splits(layout, "smoke", DATA["smoke"])
    message = str(info.value)
    assert message.startswith(f"{structures}: not a readable parquet table")
    assert "materialize structures for level smoke again (matassets data --level smoke)" in message

    # unchanged inputs: the damaged stored table is revalidated, not reused
    result, reused = build_structures(layout, "smoke", DATA["smoke"])
    assert not reused and pl.read_parquet(structures).height == result.clean.height > 0

    raw = layout.raw("smoke")
    damage(raw)
    with pytest.raises(CorruptTableError, match="materialize raw_structures for level smoke again"):
        build_structures(layout, "smoke", DATA["smoke"])
