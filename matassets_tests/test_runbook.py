"""matassets/runbook.py: the runbook's rows as data, and every deviation of our presets from them."""

import dataclasses

import pytest

from matassets import levels, runbook
from matassets.families import FAMILIES, family


@pytest.mark.parametrize("name", list(runbook.RUNBOOK))
def test_every_deviation_of_the_presets_is_the_table_s_and_only_those(name):
    """A preset changed on purpose (a field that matched the runbook now differs, or a deviation
    that went away) makes the derived deviations differ from those ``WHY`` declares."""
    presets = family(name).presets
    derived = {(d["field"], p) for p in levels.PARTITIONS for d in runbook.deviations(name, p, presets[p])}
    declared = set(runbook.reasons(name))
    assert derived - declared == set(), f"{name}: deviations from the runbook that WHY does not give"
    assert declared - derived == set(), f"{name}: WHY gives deviations the presets no longer have"


def test_every_runbook_row_covers_every_level_and_names_real_fields():
    for name, rows in runbook.RUNBOOK.items():
        preset = family(name).presets["std"]
        for field, values in rows.items():
            assert len(values) == len(levels.PARTITIONS), (name, field)
            target = levels.DATA["std"] if field.startswith("data.") else preset
            assert hasattr(target, field.removeprefix("data.")), (name, field)
    in_runbook = {f.name for f in FAMILIES if f.runbook}
    assert set(runbook.RUNBOOK) == in_runbook  # every runbook family has its row, SchNet none


def test_the_known_wrong_labels_are_deviations():
    """MACE pro is not the runbook's std row (128 channels, patience 50); the specialist's std is
    800 epochs in the runbook."""
    mace = {d["field"]: d for d in runbook.deviations("mace", "pro", levels.MACE["pro"])}
    assert mace["num_channels"]["runbook"] == 128 and mace["num_channels"]["ours"] == 64
    assert mace["patience"]["runbook"] == 50
    spec = {d["field"]: d for d in runbook.deviations("specialist", "std", levels.SPECIALIST["std"])}
    assert spec["epochs"]["runbook"] == 800 and spec["epochs"]["ours"] == 100


def test_a_run_s_override_is_a_deviation_set_for_this_run():
    preset = dataclasses.replace(levels.CGCNN["lite"], batch_size=8)
    block = runbook.record_block("phase1", "cgcnn", "lite", preset, {"batch_size": 8})
    assert block["command"] == "run_phase1.py --level lite --property P"
    assert block["deviations"] == [
        {"field": "batch_size", "runbook": 32, "ours": 8, "why": "set for this run"}
    ]
    assert runbook.record_block("phase1", "schnet", "lite", preset, {}) == {"command": None, "deviations": []}
    competition = runbook.record_block("phase1", "cgcnn", "competition", levels.CGCNN["competition"], {})
    assert competition["command"] == "run_phase1.py --competition --property P"


def test_docs_levels_md_lists_every_deviation():
    from matassets.cli.docs import levels_markdown

    text = levels_markdown()
    assert "### `mace`: deviations from the runbook's" in text
    assert (
        "| pro | `epochs`: 600 → 300; `lr`: 0.0002 → 0.0003; `r_max`: 5.5 → 5; `num_channels`: 128 → 64;"
        in text
    )
    assert "| std | `epochs`: 800 → 100; `lr`: 0.0002 → 0.001 |" in text  # the specialist
