"""A stored parquet table carries the sha256 it was written with (``files.sha256`` of its folder) and
every read checks it: a damaged table, or one changed after it was written while still readable
parquet (a flipped bit that polars reads without complaint, an edited value), is refused with its
path and the command that rebuilds it. polars alone said ``parquet: File out of specification`` with
no path for a damaged one, and read a changed one silently. A damaged or changed stored
``structures`` table whose inputs are unchanged is validated again instead of reused. A table
written before tables carried a hash is read with one warning and never reused."""

from __future__ import annotations

import logging
import re

import polars as pl
import pytest

from matassets.data.pipeline import build_splits, build_structures
from matassets.data.tables import CorruptTableError, has_hash, read_table
from matassets.io import MANIFEST, read_manifest
from matassets.levels import DATA
from matassets.paths import Layout

REBUILD = "materialize {} for level smoke again (matassets data --level smoke) to rebuild it"


def damage(path) -> None:
    data = bytearray(path.read_bytes())
    data[-40:] = b"\x00" * 40  # the footer: what every reader needs first
    path.write_bytes(bytes(data))


def flip_a_readable_bit(path) -> None:
    """One bit of the footer's ``created_by`` text: polars still reads the file."""
    data = bytearray(path.read_bytes())
    data[data.rindex(b"Polars")] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_damaged_table_names_its_path_and_how_to_rebuild_it(smoke_copy):
    layout = Layout(smoke_copy)
    structures = layout.structures("smoke")
    damage(structures)
    with pytest.raises(CorruptTableError) as info:
        build_splits(layout, "smoke", DATA["smoke"])
    message = str(info.value)
    assert message.startswith(f"{structures}: content does not match {structures.parent / MANIFEST}")
    assert message.endswith(REBUILD.format("structures"))

    # unchanged inputs: the damaged stored table is revalidated, not reused
    result, reused = build_structures(layout, "smoke", DATA["smoke"])
    assert not reused and pl.read_parquet(structures).height == result.clean_rows > 0

    raw = layout.raw("smoke")
    damage(raw)
    with pytest.raises(CorruptTableError, match=re.escape(REBUILD.format("raw_structures"))):
        build_structures(layout, "smoke", DATA["smoke"])


def test_a_readable_changed_table_is_refused_and_rebuilt(smoke_copy):
    layout = Layout(smoke_copy)
    structures, raw = layout.structures("smoke"), layout.raw("smoke")
    stored = read_table(structures, "structures", "smoke")

    flip_a_readable_bit(structures)
    assert pl.read_parquet(structures).equals(stored)  # polars sees nothing wrong
    with pytest.raises(CorruptTableError) as info:
        read_table(structures, "structures", "smoke")
    assert str(info.value).startswith(f"{structures}: content does not match")
    assert "the file was changed after it was written" in str(info.value)

    edited = stored.with_columns(pl.col("formation_energy") + 1.0)
    edited.write_parquet(structures)  # a readable table with other numbers, its hash not updated
    with pytest.raises(CorruptTableError, match="content does not match"):
        build_splits(layout, "smoke", DATA["smoke"])  # the next asset's input

    result, reused = build_structures(layout, "smoke", DATA["smoke"])  # inputs unchanged: rebuilt
    assert not reused and read_table(structures, "structures", "smoke").equals(stored)

    flip_a_readable_bit(raw)
    with pytest.raises(CorruptTableError, match=re.escape(f"{raw}: content does not match")):
        build_structures(layout, "smoke", DATA["smoke"])


def test_a_table_without_a_hash_warns_once_and_is_not_reused(smoke_copy, caplog):
    """A level written before tables carried a hash: read with one warning line per table, and
    ``structures`` validates again (writing the hash) instead of reusing it."""
    layout = Layout(smoke_copy)
    structures = layout.structures("smoke")
    (structures.parent / MANIFEST).unlink()
    assert not has_hash(structures)
    with caplog.at_level(logging.WARNING, logger="matassets.data.tables"):
        read_table(structures, "structures", "smoke")
        read_table(structures, "structures", "smoke")
    warnings = [r.getMessage() for r in caplog.records if str(structures) in r.getMessage()]
    assert warnings == [
        f"{structures}: no content hash recorded (written before tables carried one); "
        "materialize structures for level smoke again (matassets data --level smoke) to add it"
    ]
    result, reused = build_structures(layout, "smoke", DATA["smoke"])
    assert not reused
    assert set(read_manifest(structures.parent)) == {"structures.parquet", "quarantine.parquet"}
    assert build_structures(layout, "smoke", DATA["smoke"])[1]  # now hashed: reused
