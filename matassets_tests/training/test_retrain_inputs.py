"""Incremental training in the direction that hurts a user: a change to any input of a model's input
key (data, split, graph settings, preset, training seed, nproc, code, warm-start weights) retrains it
at the asset level; nothing changed reuses it. One smoke model is trained once; each case
re-materializes a copy of that project after changing one input. (Fewer epochs than the smoke preset
would make the blocking baseline check fail now and then, and a failed candidate is not promoted.)"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from conftest import folder_state, materialize

from matassets.assets.phase1 import cgcnn_asset
from matassets.data.pipeline import load_splits
from matassets.data.splits import SplitManifest
from matassets.data.tables import write_table
from matassets.levels import DATA
from matassets.paths import Layout

pytestmark = pytest.mark.slow  # every case trains a model

NAME = "cgcnn_formation_energy"


def config(**fields) -> dict:
    return {"ops": {NAME: {"config": fields}}}


def metadata(result) -> dict:
    return result.get_asset_materialization_events()[0].materialization.metadata


@pytest.fixture(scope="module")
def trained(smoke_root, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("retrain") / "project"
    shutil.copytree(smoke_root / "data", root / "data")
    result = materialize([cgcnn_asset("formation_energy")], root, run_config=config())
    assert result.success and "training" not in metadata(result)
    return root


def change_data(root: Path, monkeypatch) -> list:
    """One training crystal's target is corrected; the split is rebuilt on the new data."""
    from matassets.assets.data import splits

    path = Layout(root).structures("smoke")
    frame = pl.read_parquet(path)
    first_train = load_splits(Layout(root), "smoke").ids("train")[0]
    frame = frame.with_columns(
        pl.when(pl.col("id") == first_train)
        .then(pl.col("formation_energy") + 0.25)
        .otherwise(pl.col("formation_energy"))
        .alias("formation_energy")
    )
    write_table(frame, path)  # a changed table with its new hash
    assert materialize([splits], root).success
    return []


def change_split(root: Path, monkeypatch) -> list:
    """The same data, one train crystal and one test crystal swapped (a new, valid manifest)."""
    layout = Layout(root)
    manifest = load_splits(layout, "smoke")
    a, b = manifest.ids("train")[0], manifest.ids("test")[0]
    assignment = {**manifest.assignment, a: "test", b: "train"}
    moved = SplitManifest(
        manifest.strategy, manifest.seed, manifest.fractions, manifest.data_version, assignment
    )
    layout.split_manifest("smoke").write_text(json.dumps(moved.to_json()))
    return []


def change_graphs(root: Path, monkeypatch) -> list:
    """Fewer neighbours per atom: the graph store is rebuilt with the new settings."""
    from matassets.assets.data import crystal_graphs

    monkeypatch.setitem(DATA, "smoke", dataclasses.replace(DATA["smoke"], max_neighbors=8))
    assert materialize([crystal_graphs], root).success
    return []


def change_code(root: Path, monkeypatch) -> list:
    """A science-code edit, seen through the code version (its own test follows the source)."""
    from matassets.training import incremental

    monkeypatch.setattr(incremental, "code_version", lambda: "an-edited-version")
    return []


CASES = {
    "unchanged": (lambda root, mp: [], {}),
    "data": (change_data, {}),
    "split": (change_split, {}),
    "graph settings": (change_graphs, {}),
    "preset": (lambda root, mp: [], {"lr": 0.002}),
    "training seed": (lambda root, mp: [], {"seed": 7}),
    "nproc": (lambda root, mp: [], {"nproc": 2}),
    "code": (change_code, {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_changed_input_retrains_and_nothing_changed_reuses(trained, tmp_path, monkeypatch, case):
    change, fields = CASES[case]
    root = tmp_path / "project"
    shutil.copytree(trained, root, symlinks=True)
    folder = Layout(root).model_dir(NAME, "smoke")
    before = folder_state(folder)
    key = json.loads((folder / "run_record.json").read_text())["input_key"]
    change(root, monkeypatch)

    result = materialize([cgcnn_asset("formation_energy")], root, run_config=config(**fields))
    assert result.success
    record = json.loads((folder / "run_record.json").read_text())
    if case == "unchanged":
        assert metadata(result)["training"].value.startswith("up to date, training skipped")
        assert folder_state(folder) == before and record["input_key"] == key
    else:
        assert "training" not in metadata(result), f"{case} changed but the stale model was reused"
        assert folder_state(folder)["model.pt"] != before["model.pt"] and record["input_key"] != key


def test_new_warm_start_weights_retrain_the_specialist(smoke_root, tmp_path, specialist_smoke):
    """The specialist warm-starts from multitask_e3nn: new multitask weights (same split, same
    architecture) retrain it; the same weights reuse it."""
    import torch

    from matassets.assets.phase3_specialist import specialist_asset

    root = tmp_path / "project"
    shutil.copytree(smoke_root, root, symlinks=True)
    layout = Layout(root)
    folder = layout.model_dir("specialist_formation_energy", "smoke")
    before = folder_state(folder)
    asset = specialist_asset("formation_energy")
    again = materialize([asset], root)
    assert again.success and metadata(again)["training"].value.startswith("up to date")
    assert folder_state(folder) == before

    weights = layout.model_dir("multitask_e3nn", "smoke") / "model.pt"
    state = torch.load(weights, weights_only=True)
    name = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    state[name] = state[name] * 1.01
    torch.save(state, weights)  # as a retrained multitask model would be: new weights, sealed
    from matassets.training.model_folder import seal

    seal(weights.parent)
    result = materialize([asset], root)
    assert result.success and "training" not in metadata(result), "new warm-start weights were ignored"
    assert folder_state(folder)["model.pt"] != before["model.pt"]
