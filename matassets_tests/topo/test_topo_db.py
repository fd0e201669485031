"""The topological-materials database, built from the real Arsenal label files on the smoke crystals."""

import json
import shutil
import sqlite3

import polars as pl
import pytest
from conftest import materialize

from matassets.paths import Layout
from matassets.topo.db import build_for_partition, connect, content_hash, topo_db_path
from matassets.topo.labels import normalise_formula, read_arsenal
from matassets.topo.query import TopoDB


@pytest.fixture(scope="module")
def topo_smoke(smoke_root):
    """topo_db materialized for smoke through Dagster; returns (root, result)."""
    from matassets.assets.phase4_topo import topo_db

    result = materialize([topo_db], smoke_root)
    assert result.success
    return smoke_root, result


def test_arsenal_files_read_with_conflicts_dropped_and_counted():
    labels = read_arsenal()
    counts = labels.counts()
    # 10,812 non-empty lines in the four published files (wc -l says 10,808: no final newlines);
    # 19 (formula, space group) keys appear under two classes and are dropped, none is repeated
    assert counts["lines"] == 10812 and counts["unparsable lines"] == 0
    assert counts["duplicates merged"] == 0 and counts["conflicts dropped"] == 19
    assert counts["binary conflicts"] == 10 and counts["class-only conflicts"] == 9
    assert counts["labels"] == 10812 - 2 * 19 == 10774
    assert len({(lab.formula, lab.spacegroup) for lab in labels.labels}) == counts["labels"]
    assert counts["trivial"] + counts["TI"] + counts["TCI"] + counts["semimetal"] == counts["labels"]
    keys = {(lab.formula, lab.spacegroup): lab.cls for lab in labels.labels}
    assert keys[("Bi2Se3", 166)] == "TI" and keys[("SnTe", 225)] == "TCI"
    assert ("Ge", 227) not in keys  # listed as trivial and as semimetal: dropped
    assert normalise_formula("Se3Bi2") == "Bi2Se3"
    with pytest.raises(ValueError):
        normalise_formula("Xx2")


def test_database_built_from_real_labels(topo_smoke):
    root, result = topo_smoke
    path = topo_db_path(Layout(root), "smoke")
    clean = pl.read_parquet(Layout(root).structures("smoke"))
    with TopoDB(path) as db:
        counts = db.counts()
        assert counts["materials"] == clean.height
        assert counts["labels from topological_materials_arsenal"] == len(read_arsenal().labels)
        assert counts["labels from literature"] == 15 and counts["conflicts"] == 19
        # the join agrees with the canonical table's topo_label wherever both have a label
        labelled = {
            r["material_id"]: r["topological"]
            for r in db.conn.execute(
                "SELECT material_id, topological FROM material_labels WHERE source = ?",
                ("topological_materials_arsenal",),
            )
        }
        canon = dict(clean.filter(pl.col("topo_label").is_not_null()).select("id", "topo_label").rows())
        assert labelled and all(canon[i] == v for i, v in labelled.items() if i in canon)
        assert len(set(canon) - set(labelled)) <= 1  # only keys dropped as class-only conflicts
    check = result.get_asset_check_evaluations()[0]
    assert check.check_name == "labels_match_canonical_table" and check.passed


def test_curated_spot_checks_carry_expected_labels(topo_smoke):
    root, _ = topo_smoke
    with TopoDB.open_partition("smoke", root) as db:
        found = db.lookup("Bi2Se3")
        curated = {(r["formula"], r["spacegroup"]): r for r in db.curated()}
    lit = [r for r in found["labels"] if r["source"] == "literature"]
    assert lit == [
        {
            "formula": "Bi2Se3",
            "spacegroup": 166,
            "class": "TI",
            "topological": 1,
            "source": "literature",
            "material_id": None,
            "reference": "Zhang et al., Nat. Phys. 5, 438 (2009); Xia et al., Nat. Phys. 5, 398 (2009)",
            "note": "strong 3D TI, single Dirac cone",
        }
    ]
    arsenal = {r["spacegroup"]: r["class"] for r in found["labels"] if r["source"] != "literature"}
    assert arsenal == {62: "trivial", 137: "semimetal", 166: "TI"}
    assert len(curated) == 15
    for key in [("Bi2Se3", 166), ("Bi2Te3", 166), ("Sb2Te3", 166), ("SnTe", 225), ("Si", 227), ("MgO", 225)]:
        assert curated[key]["binary_agrees"] == 1 and curated[key]["class_agrees"] == 1, key
    # Weyl points sit at generic momenta, invisible to symmetry indicators: the Arsenal says trivial
    for key in [("TaAs", 109), ("NbAs", 109), ("Te2W", 31)]:
        assert curated[key]["database_class"] == "trivial" and curated[key]["binary_agrees"] == 0
    assert curated[("Cd3As2", 110)]["database_class"] == "semimetal"


def test_rebuild_is_idempotent(topo_smoke):
    root, _ = topo_smoke
    layout = Layout(root)
    path = topo_db_path(layout, "smoke")
    with TopoDB(path) as db:
        before, counts = db.info()["content_hash"], db.counts()
    report = build_for_partition(layout, "smoke")
    again = build_for_partition(layout, "smoke")
    assert before == report.content_hash == again.content_hash
    with TopoDB(path) as db:
        assert db.counts() == counts and content_hash(db.conn) == before


def test_constraint_violations_are_rejected(topo_smoke, tmp_path):
    root, _ = topo_smoke
    copy = tmp_path / "topo.db"
    shutil.copy(topo_db_path(Layout(root), "smoke"), copy)
    conn = connect(copy)
    arsenal = conn.execute("SELECT id FROM sources WHERE kind = 'symmetry_indicator'").fetchone()[0]
    insert = (
        "INSERT INTO labels (formula, spacegroup, class, topological, source_id, reference) "
        "VALUES (?, ?, ?, ?, ?, ?)"
    )
    bad = [
        ("Bi2Se3", 166, "insulator", 1, arsenal, "x"),  # unknown class
        ("Bi2Se3", 12, "trivial", 1, arsenal, "x"),  # class and flag disagree
        ("Bi2Se3", 231, "TI", 1, arsenal, "x"),  # no such space group
        ("Bi2Se3", 12, "TI", 2, arsenal, "x"),  # flag not 0/1
        ("Bi2Se3", 12, "TI", 1, 999, "x"),  # unknown source (foreign key)
        ("Bi2Se3", 166, "TI", 1, arsenal, "x"),  # the same key twice for one source
        ("Bi2Se3", 12, "TI", 1, arsenal, ""),  # no reference
    ]
    for row in bad:
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(insert, row)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO materials (id, formula, spacegroup, nsites, structure, data_source) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            ("x-1", "Si", 227, 2, "{not json", "test"),
        )
    conn.execute(insert, ("Bi2Se3", 12, "TI", 1, arsenal, "x"))  # a valid row goes in
    conn.close()


def test_formula_sql_injection_is_harmless(topo_smoke):
    root, _ = topo_smoke
    with TopoDB.open_partition("smoke", root) as db:
        counts = db.counts()
        for attack in [
            "Bi2Se3'; DROP TABLE labels; --",
            "' OR '1'='1",
            "Bi2Se3' OR 1=1 --",
            "%",
        ]:
            found = db.lookup(attack)
            assert found["labels"] == [] and found["materials"] == [] and found["curated"] == []
        assert db.counts() == counts
        with pytest.raises(sqlite3.OperationalError):  # the API opens the file read-only
            db.conn.execute("DELETE FROM labels")


def test_cli_topo_query(topo_smoke, monkeypatch, capsys):
    from matassets.cli import main

    root, _ = topo_smoke
    monkeypatch.setenv("MATASSETS_ROOT", str(root))
    assert main(["topo", "query", "--formula", "Se3Bi2", "--level", "smoke", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["formula"] == "Bi2Se3"
    assert any(r["source"] == "literature" and r["class"] == "TI" for r in found["labels"])
    assert main(["topo", "query", "--formula", "Bi2Se3'; DROP TABLE labels; --"]) == 1
    assert main(["topo", "query", "--formula", "SnTe"]) == 0
    assert "TCI" in capsys.readouterr().out
