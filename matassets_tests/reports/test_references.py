"""The published mlearn references cover exactly the elements we train on, in the units we report."""

from matassets.levels import MACE
from matassets.reports.references import MLEARN_REFERENCES, mlearn_references_markdown


def test_references_cover_every_trained_element():
    for model, table in MLEARN_REFERENCES.items():
        assert set(table) == set(MACE["std"].elements), model
        for energy, force in table.values():
            assert 0 < energy < 10 and 0 < force < 0.2  # meV/atom and eV/Å, as published


def test_markdown_puts_ours_beside_the_references_in_the_same_units():
    text = mlearn_references_markdown({"Si": (3.456, 71.0)})
    si = next(line for line in text.splitlines() if line.startswith("| Si |"))
    assert si == "| Si | 2.91 / 70 | 2.21 / 60 | 3.46 / 71 |"  # forces converted to meV/Å
    cu = next(line for line in text.splitlines() if line.startswith("| Cu |"))
    assert cu.endswith("| – |")
