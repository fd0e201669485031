"""A registered data set's splits say when they are too small to judge a model (``D/splits``'s
non-blocking check, ``levels.JUDGE_MIN_SPLIT``): on 60 real crystals written as CIF files, at smoke
and at lite, each split's size is in the check, a warning in the run's Dagster log, and a warning
line of the CLI's closing block; the run itself succeeds."""

from __future__ import annotations

import logging
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from matassets import datasets
from matassets.data.embedded import load_embedded


def test_split_sizes_are_judged_against_the_minimum() -> None:
    from matassets.assets.datasets import split_check
    from matassets.levels import JUDGE_MIN_SPLIT

    assert JUDGE_MIN_SPLIT == 30
    enough = split_check({"train": 240, "val": 30, "test": 30})
    assert enough.passed and enough.description == "train 240, val 30, test 30 crystals"
    short = split_check({"train": 240, "val": 31, "test": 29})
    assert not short.passed and short.severity == dg.AssetCheckSeverity.WARN
    assert "; the test split under 30: too few to judge a model" in short.description
    unjudged = split_check({"train": 120, "val": 15, "test": 15}, judged=False)
    assert unjudged.passed
    assert (
        unjudged.description
        == "train 120, val 15, test 15 crystals; no property: no model is trained or judged on them"
    )


@pytest.mark.parametrize("level", ["smoke", "lite"])
def test_a_60_crystal_data_set_s_splits_warn_in_the_log_and_the_closing_block(
    tmp_path: Path, level: str, monkeypatch
) -> None:
    from conftest import cif_dataset

    from matassets.assets.datasets import SPLIT_CHECK
    from matassets.cli._report import closing_block

    monkeypatch.setenv("MATASSETS_THREADS", "1")
    rows = load_embedded().filter(pl.col("formation_energy").is_not_null()).head(60).to_dicts()
    cif_dataset(tmp_path / "cifs", rows, {"e_form": lambda r: r["formation_energy"]})
    datasets.add("sixty", tmp_path / "cifs", ["e_form:eV/atom"], root=tmp_path)
    with dg.DagsterInstance.ephemeral() as instance:
        result = _data_run("sixty", tmp_path, level, instance)
        logged = [
            entry.user_message for entry in instance.all_logs(result.run_id) if entry.level == logging.WARNING
        ]
    assert result.success
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == SPLIT_CHECK]
    sizes = "train 48, val 6, test 6 crystals"
    assert not check.passed and not check.blocking
    assert check.description.startswith(f"{sizes}; the val and test splits under 30: too few to judge")
    assert any(f"sixty/splits [{level}]: {sizes}; the val and test splits under 30" in m for m in logged)

    block = closing_block(result, "dataset_sixty", level)
    assert block.ok and block.lines[0].endswith(f"[{level}]: succeeded with warnings")
    assert f"warning: sixty/splits [{level}]: check {SPLIT_CHECK} failed: {sizes}; the val and test" in (
        "\n".join(block.lines)
    )


def test_a_data_set_without_properties_has_splits_no_model_is_judged_on(tmp_path: Path, monkeypatch) -> None:
    """Candidates to screen (CIF files, no targets CSV) train no model: their small splits pass, and
    the run ends without a warning (the walk-through's candidates set warned 'too few to judge')."""
    from conftest import cif_dataset

    from matassets.assets.datasets import SPLIT_CHECK
    from matassets.cli._report import closing_block

    monkeypatch.setenv("MATASSETS_THREADS", "1")
    rows = load_embedded().head(60).to_dicts()
    (cif_dataset(tmp_path / "cifs", rows, {}) / "targets.csv").unlink()
    datasets.add("candidates", tmp_path / "cifs", root=tmp_path)
    with dg.DagsterInstance.ephemeral() as instance:
        result = _data_run("candidates", tmp_path, "smoke", instance)
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == SPLIT_CHECK]
    assert check.passed
    assert (
        check.description
        == "train 48, val 6, test 6 crystals; no property: no model is trained or judged on them"
    )
    block = closing_block(result, "dataset_candidates", "smoke")
    assert block.ok and block.lines[0].endswith("[smoke]: succeeded")
    assert not any(line.startswith("warning:") for line in block.lines)


def _data_run(name: str, root: Path, level: str, instance: dg.DagsterInstance) -> dg.ExecuteInJobResult:
    """Data set ``name``'s raw_structures, structures and splits materialized at ``level``."""
    from matassets.assets.datasets import dataset_assets
    from matassets.assets.resources import ProjectResource

    data = [
        a for a in dataset_assets(name, root) if a.key.path[-1] in ("raw_structures", "structures", "splits")
    ]
    return dg.materialize(
        data,
        partition_key=level,
        instance=instance,
        resources={"project": ProjectResource(root=str(root))},
        raise_on_error=False,
    )
