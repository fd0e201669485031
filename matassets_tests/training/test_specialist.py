"""specialist_<property>: warm start from multitask_e3nn, lineage, and the shared split."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest
import torch

from matassets.levels import SPECIALIST
from matassets.paths import Layout


def multitask_folder(smoke_root):
    return Layout(smoke_root).model_dir("multitask_e3nn", "smoke")


def test_warm_start_loads_the_multitask_encoder(smoke_root, multitask_smoke):
    from matassets.models.e3nn_multitask import ENCODER_PREFIXES, warm_architecture
    from matassets.models.registry import build_model
    from matassets.training.warm_start import load_pretrained_encoder

    source = multitask_folder(smoke_root)
    encoder = json.loads((source / "config.json").read_text())["architecture"]
    split_hash = json.loads((source / "run_record.json").read_text())["split_hash"]
    arch = warm_architecture(encoder, SPECIALIST["smoke"], n_out=1)
    # the multitask blocks, then the specialist's own wider block(s)
    assert arch["hidden_irreps"][: len(encoder["hidden_irreps"])] == encoder["hidden_irreps"]
    assert arch["hidden_irreps"][-1] == SPECIALIST["smoke"].irreps
    assert len(arch["hidden_irreps"]) == SPECIALIST["smoke"].n_layers

    torch.manual_seed(123)
    model = build_model(arch)
    pretrained = torch.load(source / "model.pt", weights_only=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    info = load_pretrained_encoder(model, source, split_hash)
    after = model.state_dict()
    copied = [k for k in pretrained if k.startswith(ENCODER_PREFIXES)]
    assert info["tensors"] == len(copied) > 10
    for k in copied:
        assert torch.equal(after[k], pretrained[k]), k
    # the weights really changed (the random initialisation was different) ...
    assert any(not torch.equal(before[k], pretrained[k]) for k in copied if k.startswith("blocks.0"))
    # ... while the new top block and the head keep their own initialisation
    top = f"blocks.{len(encoder['hidden_irreps'])}."
    fresh = [k for k in after if k.startswith((top, "heads."))]
    assert fresh and all(torch.equal(after[k], before[k]) for k in fresh)


def test_warm_start_refuses_a_model_trained_on_another_split(smoke_root, multitask_smoke, tmp_path):
    from matassets.models.e3nn_multitask import warm_architecture
    from matassets.models.registry import build_model
    from matassets.training.model_folder import seal
    from matassets.training.warm_start import WarmStartError, load_pretrained_encoder

    source = tmp_path / "multitask_e3nn"
    shutil.copytree(multitask_folder(smoke_root), source)
    record = json.loads((source / "run_record.json").read_text())
    good = record["split_hash"]
    record["split_hash"] = "0123456789abcdef"
    (source / "run_record.json").write_text(json.dumps(record))
    seal(source)  # a genuine folder of another split (an edit without new hashes is refused as tampering)
    encoder = json.loads((source / "config.json").read_text())["architecture"]
    model = build_model(warm_architecture(encoder, SPECIALIST["smoke"], n_out=1))
    with pytest.raises(WarmStartError, match="test set"):
        load_pretrained_encoder(model, source, good)
    with pytest.raises(WarmStartError, match="materialize it first"):
        load_pretrained_encoder(model, tmp_path / "nothing", good)


def test_lineage_shows_multitask_upstream_of_every_specialist():
    import dagster as dg

    from matassets.definitions import defs
    from matassets.levels import SPECIALIST_PROPERTIES

    graph = defs.resolve_asset_graph()
    multitask = dg.AssetKey("multitask_e3nn")
    for prop in SPECIALIST_PROPERTIES:
        node = graph.get(dg.AssetKey(f"specialist_{prop}"))
        assert multitask in node.parent_keys
        assert node.group_name == "phase3"
    assert graph.get(multitask).group_name == "phase2"
    phase3 = dg.AssetSelection.groups("phase3").upstream().resolve(graph)
    assert multitask in phase3 and dg.AssetKey("splits") in phase3
    assert {"phase2_job", "phase3_job"} <= {job.name for job in defs.jobs}


def test_specialist_uses_the_split_manifest_and_records_the_warm_start(
    smoke_root,
    multitask_smoke,
    specialist_smoke,
):
    from matassets.io import sha256_file

    layout = Layout(smoke_root)
    folder = layout.model_dir("specialist_formation_energy", "smoke")
    manifest = json.loads(layout.split_manifest("smoke").read_text())
    structures = pl.read_parquet(layout.structures("smoke"))
    labelled = set(structures.filter(pl.col("formation_energy").is_not_null())["id"].to_list())
    manifest_test = {i for i, s in manifest["assignment"].items() if s == "test"} & labelled
    manifest_train = {i for i, s in manifest["assignment"].items() if s == "train"}
    pred = pl.read_csv(folder / "predictions.csv")
    test_ids = set(pred.filter(pl.col("split") == "test")["id"].to_list())
    assert test_ids == manifest_test and len(test_ids) > 0
    # no crystal the multitask encoder trained on is in the specialist's test set
    mt_pred = pl.read_csv(multitask_folder(smoke_root) / "predictions.csv")
    mt_train = set(mt_pred.filter(pl.col("split") == "train")["id"].to_list())
    assert mt_train <= manifest_train and not (mt_train & test_ids)

    record = json.loads((folder / "run_record.json").read_text())
    assert record["split_hash"] == manifest["hash"]
    assert record["phase"] == "phase3" and record["algorithm"] == "equivariant"
    warm = record["warm_start"]
    assert warm["asset"] == "multitask_e3nn" and warm["split_hash"] == manifest["hash"]
    assert warm["model_sha256"] == sha256_file(multitask_folder(smoke_root) / "model.pt")
    config = json.loads((folder / "config.json").read_text())
    assert config["warm_start"] == warm and config["preset"]["ema_decay"] == SPECIALIST["smoke"].ema_decay
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["test"]["formation_energy"]["n"] == len(test_ids)
    meta = specialist_smoke.get_asset_materialization_events()[0].materialization.metadata
    assert meta["warm start"].value["tensors"] == warm["tensors"] > 10
    assert meta["parity"].value.startswith("![parity](data:image/png;base64,")
    check = specialist_smoke.get_asset_check_evaluations()[0]
    assert check.check_name == "beats_mean_baseline" and check.passed


def test_specialist_without_its_multitask_model_says_what_to_do(tmp_path):
    from conftest import materialize

    from matassets.assets.phase3_specialist import specialist_asset

    result = materialize([specialist_asset("band_gap")], tmp_path)
    assert not result.success
    failure = result.get_step_failure_events()[0]
    assert "materialize it first" in str(failure.step_failure_data.error.message)
