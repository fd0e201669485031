"""The unseen-element bench's child runs on today's code, at a tiny size (smoke's 200 embedded
crystals, two members of one epoch): it keeps every crystal with a held-out element out of training
and reports the spread of both test groups. Its numbers mean nothing at this size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import unseen_elements

pytestmark = pytest.mark.slow  # a subprocess that builds graphs and trains two members


def test_the_child_holds_the_elements_out_of_training_and_reports_both_groups(tmp_path: Path):
    import polars as pl

    from matassets.data.tables import read_table
    from matassets.paths import Layout

    r = unseen_elements.run_child(tmp_path, "smoke", members=2, epochs=1)

    layout = Layout(tmp_path)
    manifest = json.loads(layout.split_manifest("smoke").read_text())
    assert r["sizes"] == manifest["sizes"] and manifest["strategy"].endswith("Cs/Pt/Nd in test")
    clean = read_table(layout.structures("smoke"), "structures", "smoke")
    formulas = dict(zip(clean["id"], clean["formula"], strict=True))
    held = {i for i, f in formulas.items() if unseen_elements.elements_of(f) & set(unseen_elements.HELD_OUT)}
    assert held and all(manifest["assignment"][i] == "test" for i in held)  # none trained or validated on
    predictions = pl.read_csv(layout.model_dir("bench_unseen_elements", "smoke") / "predictions.csv")
    test = predictions.filter(pl.col("split") == "test")
    assert r["unseen"]["n"] >= len(held & set(test["id"])) > 0 and r["seen"]["n"] > 0
    assert r["unseen"]["n"] + r["seen"]["n"] == test.height  # every labelled test crystal, once
    for group in ("unseen", "seen"):  # two members with different seeds: a positive spread
        assert r[group]["std"] > 0 and r[group]["mae"] > 0
    assert r["std_ratio"] == pytest.approx(r["unseen"]["std"] / r["seen"]["std"])
    assert "Spread ratio, unseen / seen" in "\n".join(unseen_elements.lines(r))
