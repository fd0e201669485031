"""A property model (CGCNN, SchNet) warm-started from another property's model (``warm_start_from``)."""

import json
import shutil

import pytest
import torch
from conftest import materialize

from matassets.io import sha256_file
from matassets.paths import Layout

ENCODER = ("embed.", "convs.")


def _cgcnn(hidden: int, element_bias: bool = False):
    from matassets.models.cgcnn import CGCNN

    return CGCNN(hidden=hidden, n_layers=2, cutoff=8.0, gaussian_step=0.2, element_bias=element_bias)


def test_load_encoder_copies_the_trunk_and_not_the_head():
    torch.manual_seed(0)
    source = _cgcnn(32, element_bias=True)
    with torch.no_grad():
        source.element_bias.weight.normal_()
    target = _cgcnn(32)
    head_before = {k: v.clone() for k, v in target.state_dict().items() if k.startswith("head.")}
    names = target.load_encoder(source.state_dict())
    assert names and all(n.startswith(ENCODER) for n in names)
    own, theirs = target.state_dict(), source.state_dict()
    assert all(torch.equal(own[n], theirs[n]) for n in names)
    assert {n for n in theirs if n.startswith(ENCODER)} == set(names)
    assert all(torch.equal(target.state_dict()[k], v) for k, v in head_before.items())
    assert target.element_bias is None


def test_load_encoder_refuses_another_width():
    with pytest.raises(ValueError, match=r"embed.weight \(32, \d+\) vs \(64, \d+\)"):
        _cgcnn(64).load_encoder(_cgcnn(32).state_dict())


@pytest.fixture
def formation_energy_model(smoke_root, phase1_smoke, smoke_copy):
    """``smoke_copy`` with the smoke formation-energy model beside its data."""
    layout = Layout(smoke_copy)
    source = Layout(smoke_root).model_dir("cgcnn_formation_energy", "smoke")
    shutil.copytree(source, layout.model_dir("cgcnn_formation_energy", "smoke"))
    return layout


def _band_gap(root, **config):
    from matassets.assets.phase1 import cgcnn_asset

    run_config = {"ops": {"cgcnn_band_gap": {"config": {"warm_start_from": "formation_energy", **config}}}}
    return materialize([cgcnn_asset("band_gap")], root, run_config=run_config)


def test_band_gap_warm_started_from_formation_energy_records_it(formation_energy_model):
    layout = formation_energy_model
    source = layout.model_dir("cgcnn_formation_energy", "smoke")
    result = _band_gap(layout.root)
    assert result.success
    folder = layout.model_dir("cgcnn_band_gap", "smoke")
    record = json.loads((folder / "run_record.json").read_text())
    warm = record["warm_start"]
    assert warm["asset"] == "cgcnn_formation_energy" and warm["source"] == str(source)
    assert warm["model_sha256"] == sha256_file(source / "model.pt") and warm["tensors"] > 10
    assert warm["split_hash"] == record["split_hash"]
    assert record["command"].endswith("--property band_gap --set warm_start_from=formation_energy")
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["warm start"].value == warm


def test_each_member_starts_from_the_source_models_member(smoke_copy):
    """With a learning rate that cannot move them, each member of a warm-started band-gap ensemble
    keeps the convolution weights of the formation-energy ensemble's member of the same index (a
    random start would differ everywhere)."""
    from matassets.assets.phase1 import cgcnn_asset
    from matassets.training.model_folder import candidates

    layout = Layout(smoke_copy)
    two = {"ops": {"cgcnn_formation_energy": {"config": {"ensemble_size": 2}}}}
    assert materialize([cgcnn_asset("formation_energy")], smoke_copy, run_config=two).success
    result = _band_gap(smoke_copy, lr=1e-12, epochs=1, ensemble_size=2)
    assert not result.success  # a model that learnt nothing fails its gate: a candidate, not promoted
    (candidate,) = candidates(layout, "cgcnn_band_gap", "smoke")
    source = layout.model_dir("cgcnn_formation_energy", "smoke")
    assert json.loads((candidate / "run_record.json").read_text())["warm_start"]["source_members"] == 2
    for name in ("model.pt", "member_1.pt"):
        trained = torch.load(candidate / name, weights_only=True)
        start = torch.load(source / name, weights_only=True)
        weights = [n for n in start if n.startswith(ENCODER) and n.endswith(("weight", "bias"))]
        assert len(weights) > 10
        for n in weights:
            torch.testing.assert_close(trained[n], start[n], atol=1e-8, rtol=0)


@pytest.mark.parametrize(
    ("source", "message"),
    [("band_gap", "choose one of formation_energy, K_VRH, G_VRH"), ("K_VRH", "materialize it first")],
)
def test_a_warm_start_that_cannot_be_done_says_why(formation_energy_model, source, message):
    result = _band_gap(formation_energy_model.root, warm_start_from=source)
    assert not result.success
    assert message in str(result.get_step_failure_events()[0].step_failure_data.error.message)
    assert not formation_energy_model.model_dir("cgcnn_band_gap", "smoke").exists()


def test_schnet_loads_another_schnets_encoder():
    from matassets.models.schnet import SchNet

    torch.manual_seed(0)
    source, target = (SchNet(hidden=32, n_layers=2, cutoff=8.0, gaussian_step=0.2) for _ in range(2))
    names = target.load_encoder(source.state_dict())
    assert {n.split(".")[0] for n in names} == {"embed", "interactions"}
    assert all(torch.equal(target.state_dict()[n], source.state_dict()[n]) for n in names)
    assert not torch.equal(target.head[0].weight, source.head[0].weight)


def test_lineage_names_the_warm_start_and_sees_it_retrained(formation_energy_model):
    from matassets.reports.lineage import model_lineage, render

    layout = formation_energy_model
    assert _band_gap(layout.root).success
    chain = model_lineage(layout.root, "cgcnn_band_gap", "smoke")
    source = layout.model_dir("cgcnn_formation_energy", "smoke") / "model.pt"
    assert chain["model"]["warm_start"]["model_sha256"] == sha256_file(source)
    assert chain["checks"]["same warm-start weights"] is True
    assert "warm start from cgcnn_formation_energy [smoke]" in render(chain)
    assert "unchanged since" in render(chain)
    state = torch.load(source, weights_only=True)
    torch.save({k: v + 1 if v.is_floating_point() else v for k, v in state.items()}, source)  # a retrain
    chain = model_lineage(layout.root, "cgcnn_band_gap", "smoke")
    assert chain["checks"]["same warm-start weights"] is False
    assert "CHANGED since: retrained after this model started from them" in render(chain)
