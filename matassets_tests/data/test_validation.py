import json
import math

import polars as pl
import pytest

from matassets.data import schema
from matassets.data.embedded import load_embedded
from matassets.data.tables import write_table
from matassets.data.validation import validate
from matassets.paths import Layout


@pytest.fixture(scope="module")
def real_rows():
    return load_embedded().head(30)


def corrupt(frame: pl.DataFrame) -> pl.DataFrame:
    """Real rows with three deliberate faults: a truncated CIF, a NaN target and a repeated id."""
    rows = frame.to_dicts()
    rows[3].update(
        structure="data_broken\n_cell_length_a 3.0\n_atom_site_fract_x",
        structure_format="cif",
        origin="upload.csv row 4",
    )
    rows[5].update(formation_energy=math.nan, origin="upload.csv row 6")
    rows[7].update(id=rows[2]["id"], origin="upload.csv row 8")
    return schema.canonical_frame(rows)


def test_clean_data_passes(real_rows):
    result = validate(real_rows, 0.5, 1000)
    assert result.clean.height == 30 and result.quarantine.height == 0


def test_faults_are_quarantined_with_their_row(real_rows):
    raw = corrupt(real_rows)
    result = validate(raw, 0.5, 1000)
    q = {r["origin"]: r for r in result.quarantine.to_dicts()}
    assert q["upload.csv row 4"]["field"] == "structure"
    assert "unparsable cif" in q["upload.csv row 4"]["reason"]
    assert q["upload.csv row 6"]["field"] == "formation_energy"
    assert "finite" in q["upload.csv row 6"]["reason"]
    assert "duplicate id" in q["upload.csv row 8"]["reason"]
    # the NaN row stays for its other targets; the broken and duplicate rows are gone
    assert result.clean.height == 28
    kept = result.clean.filter(pl.col("id") == raw["id"][5])
    assert kept["formation_energy"][0] is None and kept["band_gap"][0] is not None


def test_unphysical_geometry_and_absurd_targets(real_rows):
    rows = real_rows.head(3).to_dicts()
    s = json.loads(rows[0]["structure"])
    s["sites"][1]["abc"] = s["sites"][0]["abc"]  # two atoms on one spot
    rows[0]["structure"] = json.dumps(s)
    rows[1]["band_gap"] = -4.0
    result = validate(schema.canonical_frame(rows), 0.5, 1000)
    reasons = {r["field"]: r["reason"] for r in result.quarantine.to_dicts()}
    assert "closer than 0.5" in reasons["structure"]
    assert "plausible range" in reasons["band_gap"]


def test_structures_asset_check_names_the_row(real_rows, tmp_path):
    from conftest import materialize

    from matassets.assets.data import structures

    write_table(corrupt(real_rows), Layout(tmp_path).raw("smoke"))
    result = materialize([structures], tmp_path)
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    report = checks["quarantine_report"]
    assert not report.passed and "upload.csv row 4" in report.description
    assert checks["quarantine_report"].metadata["quarantined"].value == 3
    # 28 clean rows are below the smoke minimum of 100: the blocking check fails the run, and the
    # refused data set writes no table (the level keeps what it had: here, nothing)
    assert not checks["enough_clean_structures"].passed
    assert not result.success
    assert not Layout(tmp_path).quarantine("smoke").exists()
    assert not Layout(tmp_path).structures("smoke").exists()
