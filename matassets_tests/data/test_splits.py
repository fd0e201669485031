import json

import polars as pl
import pytest

from matassets.data.duplicates import DUP_GROUP
from matassets.data.pipeline import frame_hash, load_splits
from matassets.data.splits import SplitManifest, chemsys, leakage, make_splits


@pytest.fixture(scope="module")
def clean(smoke_root):
    return pl.read_parquet(smoke_root / "data/structures/smoke/structures.parquet")


def test_same_inputs_same_split(clean):
    a = make_splits(clean, "random", 42, (0.8, 0.1, 0.1), frame_hash(clean))
    b = make_splits(clean, "random", 42, (0.8, 0.1, 0.1), frame_hash(clean))
    c = make_splits(clean, "random", 7, (0.8, 0.1, 0.1), frame_hash(clean))
    assert a.assignment == b.assignment and a.hash == b.hash
    assert a.assignment != c.assignment
    sizes = a.sizes()
    assert sum(sizes.values()) == clean.height
    assert abs(sizes["test"] - 0.1 * clean.height) <= 3 and abs(sizes["val"] - 0.1 * clean.height) <= 3


@pytest.mark.parametrize(
    "strategy,key",
    [("chemsys", lambda r: chemsys(r["formula"])), ("spacegroup", lambda r: r["spacegroup"])],
)
def test_grouped_splits_keep_groups_together(clean, strategy, key):
    m = make_splits(clean, strategy, 42, (0.8, 0.1, 0.1), "v")
    sides: dict = {}
    for row in clean.iter_rows(named=True):
        sides.setdefault(key(row), set()).add(m.assignment[row["id"]])
    assert all(len(s) == 1 for s in sides.values())
    assert min(m.sizes().values()) > 0


def test_identical_structures_never_straddle(clean):
    # make two crystals identical (same dup group) and check they land on one side
    ids = clean["id"].to_list()
    forced = clean.with_columns(
        pl.when(pl.col("id") == ids[1]).then(pl.lit(ids[0])).otherwise(pl.col(DUP_GROUP)).alias(DUP_GROUP)
    )
    m = make_splits(forced, "random", 42, (0.8, 0.1, 0.1), "v")
    assert m.assignment[ids[0]] == m.assignment[ids[1]]
    assert leakage(m, forced)["duplicate_groups_straddling"] == 0
    # a manifest that puts them apart is caught
    m.assignment[ids[1]] = "test" if m.assignment[ids[0]] == "train" else "train"
    assert leakage(m, forced)["duplicate_groups_straddling"] == 1


def test_manifest_on_disk_is_checked(smoke_root, tmp_path):
    path = smoke_root / "data/splits/smoke/split_manifest.json"
    manifest = load_splits(type("L", (), {"split_manifest": lambda self, p: path})(), "smoke")
    data = json.loads(path.read_text())
    assert data["hash"] == manifest.hash and data["sizes"] == manifest.sizes()
    first = next(iter(data["assignment"]))
    data["assignment"][first] = "test" if data["assignment"][first] != "test" else "train"
    with pytest.raises(ValueError, match="hash mismatch"):
        SplitManifest.from_json(data)
