"""Ingestion's fast paths give what the slow ones gave: the space group asked of spglib directly is
SpacegroupAnalyzer's, and a graph store built in worker processes is the one built inline."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import polars as pl
import pytest
import torch

from matassets.data import pipeline, schema, workers
from matassets.data.embedded import load_embedded
from matassets.data.parsing import parse_structure
from matassets.data.spacegroups import spacegroup_number
from matassets.data.tables import write_table
from matassets.data.workers import WorkerPool, pool_for
from matassets.graphs.sharded import load_store
from matassets.graphs.store import GraphStore
from matassets.levels import DATA
from matassets.paths import Layout


@pytest.fixture(scope="module")
def embedded():
    return load_embedded()


def _analyzer(structure) -> int:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    return SpacegroupAnalyzer(structure, symprec=0.1).get_space_group_number()


def test_spacegroup_number_is_the_analyzers(embedded) -> None:
    """120 embedded crystals (every 6,317 was compared once), and the cases where typing atoms by
    atomic number would differ: an oxidation state splits an element, magnetic moments count."""
    structures = [parse_structure(t, "pymatgen_json") for t in embedded["structure"].gather_every(52)]
    numbers = {spacegroup_number(s) for s in structures}
    assert len(numbers) > 20  # many space groups, not one
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for s in structures:
            assert spacegroup_number(s) == _analyzer(s), s.composition.reduced_formula
        from pymatgen.core import Lattice, Structure

        rocksalt = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0] * 3, [0.5] * 3])
        assert spacegroup_number(rocksalt) == _analyzer(rocksalt) == 225
        mixed = rocksalt.copy()
        mixed.replace(0, {"Fe2+": 1})
        mixed.replace(1, {"Fe3+": 1})
        mixed.replace(2, {"Fe3+": 1})
        assert spacegroup_number(mixed) == _analyzer(mixed) != 225
        magnetic = rocksalt.copy(site_properties={"magmom": [1, -1, 1, -1] + [0] * 4})
        assert spacegroup_number(magnetic) == _analyzer(magnetic)


@pytest.mark.parametrize("sharded", [False, True])
def test_graphs_built_in_workers_equal_the_inline_build(embedded, tmp_path, monkeypatch, sharded) -> None:
    clean = embedded.head(420)
    monkeypatch.setattr(workers, "INLINE_BELOW", 400)  # 420 structures: build_graphs uses its workers
    layout = Layout(tmp_path)
    write_table(clean, layout.structures("smoke"))
    pools = []

    def recorded(items: int, workers: int | None = None) -> WorkerPool:
        pools.append(pool_for(items, workers))
        return pools[-1]

    monkeypatch.setattr(pipeline, "pool_for", recorded)
    monkeypatch.setenv("MATASSETS_WORKERS", "2")
    preset = dataclasses.replace(DATA["smoke"], sharded_above=0 if sharded else 10**6, shard_size=150)
    path, cached = pipeline.build_graphs(layout, "smoke", preset)
    assert not cached and [p.workers for p in pools] == [2] and path.is_dir() == sharded
    built = load_store(path)
    inline = GraphStore.build(
        clean[schema.ID].to_list(),
        [parse_structure(t, "pymatgen_json") for t in clean[schema.STRUCTURE]],
        preset.cutoff,
        preset.max_neighbors,
    )
    assert built.ids == inline.ids
    every = np.arange(len(inline))
    a, b = built.collate(every), inline.collate(every)
    for name in ("z", "edge_index", "edge_dist", "edge_vec", "batch"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_frame_hash_in_slices_is_the_hash_of_the_whole_csv(embedded) -> None:
    """The data hash recorded in every data version and run record is the sha256 of the table's CSV;
    written in slices (bounded memory) it must stay that hash, at every slice boundary."""
    from matassets.io import sha256_text

    for frame in (embedded, embedded.head(0), embedded.head(1), embedded.head(300)):
        whole = sha256_text(frame.write_csv())
        assert pipeline.frame_hash(frame, rows=100) == whole == pipeline.frame_hash(frame)


@pytest.mark.parametrize("cap", [None, 70])
def test_validation_streamed_from_the_stored_table_is_validation_in_memory(embedded, tmp_path, cap) -> None:
    """``structures`` validates the stored raw table a batch of rows at a time (100k structures are
    never held at once) and writes each batch's clean rows to its own file: with batches of 64 rows,
    a repeated id (the rows read are then not one run) and a capped level (rows read in a seeded
    random order), the clean table, its duplicate groups, the quarantine and the counts are those of
    validating the whole table in memory."""
    from matassets.data.validation import validate

    raw = embedded.head(300)
    # three ids repeated in the middle: quarantined, so the rows read around them are not one run
    raw = pl.concat([raw.head(150), raw.slice(10, 3), raw.slice(150)])
    stored = write_table(raw, tmp_path / "raw.parquet")
    preset = DATA["smoke"]
    args = (preset.min_distance, preset.max_sites)
    whole = validate(raw, *args, max_clean=cap, workers=1)
    (tmp_path / "batches").mkdir()
    streamed = validate(stored, *args, max_clean=cap, workers=1, batch_rows=64, folder=tmp_path / "batches")
    assert streamed.clean.collect().equals(whole.clean)
    assert streamed.quarantine.equals(whole.quarantine) and streamed.counts == whole.counts
    if cap is None:  # (a capped level reads its cap and a margin in one batch)
        assert len(list((tmp_path / "batches").glob("*.parquet"))) == 5
    assert whole.quarantine["reason"].str.starts_with("duplicate id").sum() == 3
