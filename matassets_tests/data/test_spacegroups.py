"""Space groups are computed where they are used: ingestion leaves a CIF folder's null unless the
split groups by space group, and the composition forest fills its own rows to the same features."""

from __future__ import annotations

import dataclasses
import warnings

from pymatgen.io.cif import CifWriter

from matassets.data import schema, spacegroups, workers
from matassets.data.embedded import load_embedded
from matassets.data.parsing import parse_structure
from matassets.data.pipeline import build_raw, build_structures
from matassets.data.user_files import load_folder
from matassets.data.validation import validate
from matassets.levels import DATA
from matassets.paths import Layout
from matassets.training.property_forest import _features
from matassets_tests.conftest import cif_dataset


def test_forest_features_equal_those_of_space_groups_filled_at_ingestion(tmp_path, monkeypatch) -> None:
    """160 embedded crystals of many space groups written as pymatgen's P1 CIFs (they state space
    group 1, i.e. none); the forest fills them in 2 worker processes (3 chunks, in order)."""
    rows = load_embedded().gather_every(39).head(160).to_dicts()
    raw = load_folder(cif_dataset(tmp_path / "cif", rows, {"formation_energy": lambda r: 0.0}))
    monkeypatch.setenv("MATASSETS_WORKERS", "2")
    monkeypatch.setattr(workers, "INLINE_BELOW", 100)
    pools = []

    def recorded(items: int, count: int | None = None) -> workers.WorkerPool:
        pools.append(workers.pool_for(items, count))
        return pools[-1]

    monkeypatch.setattr(spacegroups, "pool_for", recorded)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lean = validate(raw, 0.5, 200, workers=1).clean
        filled = validate(raw, 0.5, 200, workers=1, spacegroups=True).clean
    assert lean[schema.SPACEGROUP].null_count() == lean.height == 160  # nothing computed
    assert filled[schema.SPACEGROUP].null_count() == 0
    assert filled[schema.SPACEGROUP].n_unique() > 20  # many space groups, not one
    x_lean = _features(lean, True, "test")
    assert [p.workers for p in pools] == [2]
    x_filled = _features(filled, True, "test")
    assert x_lean.shape == x_filled.shape and (x_lean == x_filled).all()
    # composition-only features never need one
    assert (_features(lean, False, "test") == _features(filled, False, "test")).all()


def test_structures_compute_space_groups_only_for_a_split_by_space_group(tmp_path) -> None:
    rows = load_embedded().head(12)
    folder = tmp_path / "cif"
    cif_dataset(folder, rows.to_dicts(), {"formation_energy": lambda r: 0.0})
    stated = parse_structure(rows[schema.STRUCTURE][0], "pymatgen_json")
    # a CIF in its space group's setting states it: that number is kept without spglib
    text = str(CifWriter(stated, symprec=0.1))
    number = spacegroups.declared_spacegroup(text, "cif")
    assert number is not None and number > 1
    (folder / f"{rows[schema.ID][0]}.cif").write_text(text)
    layout = Layout(tmp_path / "root")
    build_raw(load_folder(folder), layout, "smoke")
    for strategy, nulls in (("random", 11), ("spacegroup", 0)):
        preset = dataclasses.replace(DATA["smoke"], split_strategy=strategy, min_clean=0)
        clean = build_structures(layout, "smoke", preset)[0].clean.collect()
        by_id = dict(zip(clean[schema.ID], clean[schema.SPACEGROUP], strict=True))
        assert clean[schema.SPACEGROUP].null_count() == nulls, strategy
        assert by_id[rows[schema.ID][0]] == number
