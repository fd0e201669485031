"""multitask_e3nn on the real smoke data: masked loss, learned task weights, unit-free model
selection, and a materialization that reports every task beside its baseline."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import polars as pl
import pytest
import torch

from matassets.levels import DATA, E3NN_MULTITASK, MULTITASK_PROPERTIES
from matassets.paths import Layout

TASKS = list(MULTITASK_PROPERTIES)


def smoke_splits(smoke_root):
    from matassets.training.graph_model import RunSpec, load_split_data

    spec = RunSpec(
        asset="x",
        phase="phase2",
        algorithm="e3nn",
        tasks=TASKS,
        partition="smoke",
        architecture={},
        preset=E3NN_MULTITASK["smoke"],
        data=DATA["smoke"],
        command="",
    )
    return load_split_data(Layout(smoke_root), spec)[0]


@pytest.mark.slow
def test_a_crystal_missing_a_property_still_trains_the_others(smoke_root):
    from matassets.training.objectives import RegressionObjective

    train = smoke_splits(smoke_root)["train"]
    k, fe = TASKS.index("K_VRH"), TASKS.index("formation_energy")
    missing_k = np.isnan(train.y[:, k]) & ~np.isnan(train.y[:, fe])
    # the crystals without moduli are in the training set, not dropped
    assert missing_k.sum() > 5 * (~np.isnan(train.y[:, k])).sum() > 0
    for weights in ("fixed", "learned"):
        objective = RegressionObjective(TASKS, task_weights=weights)
        objective.fit(train.y)
        y = torch.as_tensor(train.y[:32])
        out = torch.zeros(y.shape, requires_grad=True)
        loss = objective.loss_fn(out, y)
        assert torch.isfinite(loss)
        loss.backward()
        rows = np.flatnonzero(missing_k[:32])
        assert len(rows) > 0
        # its labelled properties get a gradient, its missing ones none at all
        assert (out.grad[rows, fe] != 0).all()
        assert (out.grad[rows, k] == 0).all()
        assert (out.grad[torch.isnan(y)] == 0).all()


@pytest.mark.slow
def test_learned_task_weights_are_optimised(smoke_root, tmp_path):
    from matassets.models.e3nn_multitask import E3nnMultitask
    from matassets.training.objectives import RegressionObjective
    from matassets.training.trainer import Trainer

    splits = smoke_splits(smoke_root)
    objective = RegressionObjective(TASKS, task_weights="learned")
    objective.fit(splits["train"].y)
    start = objective.learnable.log_var.detach().clone()
    torch.manual_seed(0)
    model = E3nnMultitask(["8x0e+4x1o"], lmax=1, r_max=8.0, radial_hidden=8, head_hidden=8, n_out=5)
    preset = dataclasses.replace(E3NN_MULTITASK["smoke"], epochs=2, lr=2e-2, task_weights="learned")
    trainer = Trainer(model, objective, preset, tmp_path, seed=1, log=lambda m: None)
    fit = trainer.fit(splits["train"], splits["val"])
    log_var = objective.learnable.log_var.detach()
    assert not torch.allclose(log_var, start), "the log-variances did not move"
    assert (log_var - start).abs().min() > 1e-3  # every task's weight moved
    # the history shows the weights epoch by epoch, and the saved state has the final ones
    weights = [[row[f"weight_{t}"] for t in TASKS] for row in fit.history]
    assert len(weights) == 2 and weights[0] != weights[1]
    assert objective.state()["task_weights"] == dict(zip(TASKS, torch.exp(-log_var).tolist(), strict=True))
    # and they are part of the checkpoint a resumed run restores
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert torch.equal(saved["objective"]["log_var"], log_var)


def test_fixed_weights_add_no_parameters():
    from matassets.training.objectives import RegressionObjective

    assert RegressionObjective(TASKS).learnable is None
    with pytest.raises(ValueError, match="fixed"):
        RegressionObjective(TASKS, task_weights="sometimes")


def test_model_selection_uses_the_unit_free_score(smoke_root, multitask_smoke):
    from matassets.training.metrics import regression_metrics
    from matassets.training.objectives import RegressionObjective

    folder = Layout(smoke_root).model_dir("multitask_e3nn", "smoke")
    metrics = json.loads((folder / "metrics.json").read_text())
    history = pl.read_csv(folder / "history.csv")
    # the best epoch is the one with the lowest mean MAE/MAD on validation
    assert metrics["best_epoch"] == history["epoch"][int(history["val_score"].arg_min())]
    objective = RegressionObjective(TASKS)
    score = objective.score(metrics["val"])
    ratios = [metrics["val"][t]["mae"] / metrics["val"][t]["baseline_mad"] for t in TASKS]
    assert score == pytest.approx(np.mean(ratios))
    assert score == pytest.approx(history["val_score"].min(), rel=1e-6)
    # a change of unit (GPa -> MPa for the moduli) leaves the score unchanged, while a mean of
    # raw MAEs would be dominated by the moduli
    floats = {f"{t}_{k}": pl.Float64 for t in TASKS for k in ("true", "pred")}  # "nan" = unlabelled
    pred = pl.read_csv(folder / "predictions.csv", schema_overrides=floats)
    pred = pred.filter(pl.col("split") == "val")
    norm = json.loads((folder / "normalization.json").read_text())

    def val_metrics(scale: dict[str, float]) -> dict:
        out = {}
        for t, mean in zip(norm["tasks"], norm["mean"], strict=True):
            rows = pred.filter(pl.col(f"{t}_true").is_not_nan())
            s = scale.get(t, 1.0)
            out[t] = regression_metrics(
                rows[f"{t}_true"].to_numpy() * s, rows[f"{t}_pred"].to_numpy() * s, mean * s
            )
        return out

    gpa, mpa = val_metrics({}), val_metrics({"K_VRH": 1000.0, "G_VRH": 1000.0})
    assert objective.score(mpa) == pytest.approx(objective.score(gpa), rel=1e-9)
    assert objective.score(gpa) == pytest.approx(score, rel=1e-6)
    raw = [np.mean([m["mae"] for m in ms.values()]) for ms in (gpa, mpa)]
    assert raw[1] > 100 * raw[0]


def test_smoke_materialization_reports_every_task(smoke_root, multitask_smoke):
    folder = Layout(smoke_root).model_dir("multitask_e3nn", "smoke")
    metrics = json.loads((folder / "metrics.json").read_text())
    for split in ("train", "val", "test"):
        for task in TASKS:
            m = metrics[split][task]
            assert m["n"] > 0 and m["mae"] > 0 and m["baseline_mad"] > 0, (split, task)
    for task in TASKS:
        png = folder / f"parity_{task}.png"
        assert png.read_bytes()[:4] == b"\x89PNG"
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"]["family"] == "e3nn" and config["tasks"] == TASKS
    assert config["architecture"]["hidden_irreps"] == ["8x0e+4x1o+2x2e"] * 2
    norm = json.loads((folder / "normalization.json").read_text())
    assert set(norm["task_weights"]) == set(TASKS)
    assert any(abs(w - 1.0) > 1e-3 for w in norm["task_weights"].values())
    record = json.loads((folder / "run_record.json").read_text())
    assert record["phase"] == "phase2" and record["algorithm"] == "e3nn"
    assert record["command"] == "matassets run phase2 --algorithm e3nn --level smoke"
    assert set(record["test_metrics"]) == set(TASKS)
    manifest = json.loads((smoke_root / "data/splits/smoke/split_manifest.json").read_text())
    assert record["split_hash"] == manifest["hash"]

    meta = multitask_smoke.get_asset_materialization_events()[0].materialization.metadata
    table = meta["tasks"].value
    assert all(f"| {t} |" in table for t in TASKS)
    for task in TASKS:
        assert "| test |" in meta[f"metrics {task}"].value
        assert meta["parity " + task.replace("_", " ")].value.startswith("![parity_")
    assert meta["preset"].value["irreps"] == "8x0e+4x1o+2x2e"
    assert meta["val score (mean MAE/MAD)"].value == pytest.approx(
        np.mean([metrics["val"][t]["mae"] / metrics["val"][t]["baseline_mad"] for t in TASKS])
    )
    check = multitask_smoke.get_asset_check_evaluations()[0]
    assert check.check_name == "beats_mean_baseline"
    assert check.passed == (meta["val score (mean MAE/MAD)"].value < 1.0)


def test_reloaded_multitask_model_reproduces_its_predictions(smoke_root, multitask_smoke):
    from matassets.data.pipeline import current_graphs_path
    from matassets.graphs.store import GraphStore
    from matassets.inference.predict import load_model

    layout = Layout(smoke_root)
    folder = layout.model_dir("multitask_e3nn", "smoke")
    model = load_model(folder)
    assert model.tasks == TASKS
    saved = pl.read_csv(folder / "predictions.csv").filter(pl.col("split") == "test")
    store = GraphStore.load(current_graphs_path(layout, "smoke"))
    pred = model.predict_store(store)[store.index_of(saved["id"].to_list())]
    for t, task in enumerate(TASKS):
        np.testing.assert_allclose(pred[:, t], saved[f"{task}_pred"].to_numpy(), rtol=1e-4, atol=1e-4)


def test_presets_cover_every_level_and_follow_the_runbook():
    from matassets.levels import PARTITIONS, SPECIALIST
    from matassets.models._e3nn import o3

    for table in (E3NN_MULTITASK, SPECIALIST):
        assert tuple(table) == PARTITIONS
        for preset in table.values():
            o3.Irreps(preset.irreps)  # parses
            assert preset.lmax >= max(ir.l for _, ir in o3.Irreps(preset.irreps))
    std = E3NN_MULTITASK["std"]
    assert (std.epochs, std.batch_size, std.lr, std.irreps, std.n_layers) == (
        100,
        16,
        1e-3,
        "64x0e+32x1o+16x2e",
        3,
    )
    spec = SPECIALIST["std"]
    assert (spec.irreps, spec.lmax, spec.n_layers, spec.ema_decay) == ("128x0e+64x1o+32x2e", 2, 4, 0.999)
    assert all(p.task_weights == "learned" for p in E3NN_MULTITASK.values())
    smoke = E3NN_MULTITASK["smoke"]
    assert smoke.epochs <= 3 and o3.Irreps(smoke.irreps).dim <= 32
