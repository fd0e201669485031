import json

import numpy as np
import polars as pl
import pytest

from matassets.inference.predict import PredictInputError, load_model, read_structure_file
from matassets.paths import Layout

FILES = [
    "model.pt",
    "config.json",
    "normalization.json",
    "metrics.json",
    "history.csv",
    "predictions.csv",
    "parity.png",
    "learning_curve.png",
    "run_record.json",
    "decision.json",
    "files.sha256",
]


def test_smoke_materialization_writes_every_file(smoke_root, phase1_smoke):
    folder = Layout(smoke_root).model_dir("cgcnn_formation_energy", "smoke")
    for name in FILES:
        assert (folder / name).stat().st_size > 0, name
    assert (folder / "parity.png").read_bytes()[:4] == b"\x89PNG"
    metrics = json.loads((folder / "metrics.json").read_text())
    for split in ("train", "val", "test"):
        m = metrics[split]["formation_energy"]
        assert {"mae", "rmse", "r2", "max_ae", "baseline_mad", "mad_mae_ratio"} <= set(m)
        assert m["n"] > 0
    record = json.loads((folder / "run_record.json").read_text())
    assert record["phase"] == "phase1" and record["algorithm"] == "cgcnn"
    assert record["mode"] == "level" and record["level"] == "smoke"
    assert record["command"] == "matassets run phase1 --level smoke --property formation_energy"
    assert record["dagster_run_id"] == phase1_smoke.run_id
    assert record["test_metrics"]["formation_energy"]["mae"] == metrics["test"]["formation_energy"]["mae"]
    assert len(record["split_hash"]) == 16 and record["libraries"]["torch"].startswith("2.13")
    manifest = json.loads((smoke_root / "data/splits/smoke/split_manifest.json").read_text())
    assert record["split_hash"] == manifest["hash"]
    history = pl.read_csv(folder / "history.csv")
    assert history["epoch"].to_list() == list(range(1, history.height + 1))


def test_materialization_metadata_and_check(phase1_smoke):
    event = phase1_smoke.get_asset_materialization_events()[0]
    meta = event.materialization.metadata
    assert "| test |" in meta["metrics"].value
    assert meta["parity"].value.startswith("![parity](data:image/png;base64,")
    assert meta["preset"].value["epochs"] == 3
    assert "Xie & Grossman" in meta["published references"].value
    check = phase1_smoke.get_asset_check_evaluations()[0]
    assert check.check_name == "beats_mean_baseline" and check.passed


def test_reloaded_model_reproduces_saved_test_predictions(smoke_root, phase1_smoke):
    import torch

    from matassets.data.pipeline import current_graphs_path
    from matassets.graphs.store import GraphStore
    from matassets.training.trainer import GraphSplit, predict

    layout = Layout(smoke_root)
    folder = layout.model_dir("cgcnn_formation_energy", "smoke")
    saved = pl.read_csv(folder / "predictions.csv").filter(pl.col("split") == "test")
    model = load_model(folder)
    store = GraphStore.load(current_graphs_path(layout, "smoke"))
    # the same crystals in the same batches as at the end of training: the same numbers up to one
    # float32 rounding step (CPU matmul kernels may differ in the last bit with memory alignment)
    index = store.index_of(saved["id"].to_list())
    split = GraphSplit(store, index, np.zeros((len(index), 1), np.float32))
    out = predict(model.model, split, model.config["preset"]["batch_size"], torch.device("cpu"))
    pred = model.objective.decode(out)[:, 0]
    np.testing.assert_allclose(pred, saved["formation_energy_pred"].to_numpy(), rtol=3e-7, atol=1e-7)
    # any batching agrees to float32 rounding
    anyway = model.predict_store(store)[index, 0]
    np.testing.assert_allclose(anyway, pred, rtol=1e-5, atol=1e-6)


def test_predict_reads_structure_files(smoke_root, phase1_smoke, tmp_path):
    from pymatgen.core import Lattice, Structure

    nacl = Structure(
        Lattice.cubic(5.64),
        ["Na", "Cl"] * 4,
        [
            [0, 0, 0],
            [0.5, 0, 0],
            [0.5, 0.5, 0],
            [0, 0.5, 0],
            [0.5, 0, 0.5],
            [0, 0, 0.5],
            [0, 0.5, 0.5],
            [0.5, 0.5, 0.5],
        ],
    )
    nacl.to(filename=str(tmp_path / "NaCl.cif"))
    model = load_model(Layout(smoke_root).model_dir("cgcnn_formation_energy", "smoke"))
    value = model.predict_structures(["NaCl"], [read_structure_file(tmp_path / "NaCl.cif")])
    assert value.shape == (1, 1) and np.isfinite(value).all()
    (tmp_path / "bad.cif").write_text("data_x\n_cell_length_a\n")
    with pytest.raises(PredictInputError, match="bad.cif"):
        read_structure_file(tmp_path / "bad.cif")
    with pytest.raises(PredictInputError, match="no such file"):
        read_structure_file(tmp_path / "missing.cif")


@pytest.mark.slow
def test_a_candidate_that_fails_its_check_leaves_the_current_model(smoke_copy, tmp_path, capsys):
    """A model that cannot learn is a candidate that fails its blocking check: the current model
    stays byte-identical and DVC still points to it; the candidate stays, with its metrics and the
    failed check, in the UI's metadata; a person may still promote (or reject) it, recorded."""
    from conftest import dvc_project, materialize

    from matassets.assets.phase1 import cgcnn_asset
    from matassets.cli import main
    from matassets.training.history import read_history
    from matassets.training.model_folder import candidates
    from matassets.versioning import lock_hashes

    root = dvc_project(smoke_copy, tmp_path / "project")
    layout = Layout(root)
    final = layout.model_dir("cgcnn_band_gap", "smoke")
    first = materialize([cgcnn_asset("band_gap")], root)
    assert first.success and first.get_asset_check_evaluations()[0].passed
    before = {p.name: p.read_bytes() for p in final.iterdir()}
    locked = lock_hashes(root, "cgcnn_band_gap@smoke")
    assert locked == {
        "models/cgcnn_band_gap/smoke": first.get_asset_materialization_events()[0]
        .materialization.metadata["dvc_md5"]
        .value
    }

    config = {"ops": {"cgcnn_band_gap": {"config": {"lr": 1e-12, "epochs": 2}}}}
    result = materialize([cgcnn_asset("band_gap")], root, run_config=config)
    check = result.get_asset_check_evaluations()[0]
    assert check.check_name == "beats_mean_baseline" and not check.passed
    assert not result.success  # the check is blocking
    assert {p.name: p.read_bytes() for p in final.iterdir()} == before
    assert lock_hashes(root, "cgcnn_band_gap@smoke") == locked  # DVC still points to it
    (candidate,) = candidates(layout, "cgcnn_band_gap", "smoke")
    record = json.loads((candidate / "run_record.json").read_text())
    assert record["overrides"] == {"lr": 1e-12, "epochs": 2}
    assert record["command"].endswith("--property band_gap --set epochs=2 --set lr=1e-12")
    decision = json.loads((candidate / "decision.json").read_text())
    assert decision["status"] == "failed" and "beats_mean_baseline failed" in decision["reason"]
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["model status"].value == "failed" and meta["failed candidate"].value == str(candidate)
    assert "beats_mean_baseline failed" in meta["decision"].value and "dvc_md5" not in meta
    assert [e["version"] for e in read_history(layout, "cgcnn_band_gap", "smoke")] == [1]

    # a person's decision, recorded in the history: promote the failed candidate after all
    assert main(["promote", "cgcnn_band_gap", "--level", "smoke", "--root", str(root), "--reason", "r"]) == 0
    assert json.loads((final / "run_record.json").read_text())["overrides"] == {"lr": 1e-12, "epochs": 2}
    assert lock_hashes(root, "cgcnn_band_gap@smoke") != locked  # committed to DVC
    history = read_history(layout, "cgcnn_band_gap", "smoke")
    assert [e["version"] for e in history] == [1, 2] and history[-1]["reason"] == "r"
    assert "(matassets promote)" in history[-1]["by"] and not candidates(layout, "cgcnn_band_gap", "smoke")

    # and back: version 1's files from DVC's cache become the current model again (version 3)
    assert (
        main(["checkout", "cgcnn_band_gap", "--level", "smoke", "--root", str(root), "--version", "1"]) == 0
    )
    restored = {p.name: p.read_bytes() for p in final.iterdir()}
    assert all(
        restored[name] == before[name]
        for name in before
        if name not in ("run_record.json", "decision.json", "files.sha256")
    )
    assert [e["version"] for e in read_history(layout, "cgcnn_band_gap", "smoke")] == [1, 2, 3]
    assert lock_hashes(root, "cgcnn_band_gap@smoke") != locked  # the record names the checkout
