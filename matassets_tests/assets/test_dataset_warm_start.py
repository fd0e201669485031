"""A registered data set's CGCNN starts from the same data set's model of another property
(``warm_start_from``), as the embedded set's does: on CIF files written from real embedded
structures, with formation energy and band gap under the user's own column names."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import torch

from matassets import datasets
from matassets.data.embedded import load_embedded
from matassets.data.parsing import parse_structure
from matassets.io import sha256_file

ENCODER = ("embed.", "convs.")


@pytest.fixture
def two_property_set(smoke_copy: Path) -> Path:
    """Data set ``pair`` (``e_form``, ``gap``) registered in ``smoke_copy`` with its data and its
    ``e_form`` CGCNN materialized."""
    from conftest import materialize

    from matassets.assets.datasets import dataset_assets

    cifs = smoke_copy / "incoming_cifs"
    cifs.mkdir()
    rows = load_embedded().filter(pl.col("band_gap").is_not_null()).head(120).to_dicts()
    lines = ["file,e_form,gap"]
    for row in rows:
        structure = parse_structure(row["structure"], "pymatgen_json")
        (cifs / f"{row['id']}.cif").write_text(structure.to(fmt="cif"))
        lines.append(f"{row['id']},{row['formation_energy']},{row['band_gap']}")
    (cifs / "targets.csv").write_text("\n".join(lines) + "\n")
    datasets.add("pair", cifs, ["e_form:eV/atom", "gap:eV"], root=smoke_copy)
    data = ("raw_structures", "structures", "splits", "crystal_graphs", "cgcnn_e_form")
    assets = [a for a in dataset_assets("pair", smoke_copy) if a.key.path[-1] in data]
    assert materialize(assets, smoke_copy).success
    return smoke_copy


def _gap(root: Path, **config):
    from conftest import materialize

    from matassets.assets.datasets import dataset_assets

    (asset,) = [a for a in dataset_assets("pair", root) if a.key.path[-1] == "cgcnn_gap"]
    return materialize([asset], root, run_config={"ops": {"pair__cgcnn_gap": {"config": config}}})


def test_a_data_sets_model_warm_starts_from_its_model_of_another_property(two_property_set):
    from matassets.paths import Layout
    from matassets.training.model_folder import candidates

    layout = Layout(two_property_set).for_dataset("pair")
    source = layout.model_dir("cgcnn_e_form", "smoke")
    result = _gap(two_property_set, warm_start_from="e_form", lr=1e-12, epochs=1)
    assert not result.success  # a model that learnt nothing fails its gate: a candidate, not promoted
    (candidate,) = candidates(layout, "cgcnn_gap", "smoke")
    record = json.loads((candidate / "run_record.json").read_text())
    warm = record["warm_start"]
    assert warm["source"] == str(source) and warm["model_sha256"] == sha256_file(source / "model.pt")
    assert warm["split_hash"] == record["split_hash"]
    assert "--set warm_start_from=e_form" in record["command"]
    trained = torch.load(candidate / "model.pt", weights_only=True)
    start = torch.load(source / "model.pt", weights_only=True)
    weights = [n for n in start if n.startswith(ENCODER) and n.endswith(("weight", "bias"))]
    assert len(weights) > 10
    for n in weights:  # the learning rate cannot move them: the source's, not a random start
        torch.testing.assert_close(trained[n], start[n], atol=1e-8, rtol=0)


@pytest.mark.parametrize(("source", "message"), [("gap", "choose one of e_form"), ("K_VRH", "choose one of")])
def test_a_data_sets_warm_start_names_its_own_properties(two_property_set, source, message):
    result = _gap(two_property_set, warm_start_from=source)
    assert not result.success
    error = str(result.get_step_failure_events()[0].step_failure_data.error.message)
    assert message in error and "on data set pair" in error
