"""The hurdle option (``--set hurdle=true``): a model with an at-the-bound logit beside each value,
for a property where many crystals sit at its lower bound (metals' band gap of 0 eV)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import torch
from conftest import materialize

from matassets.paths import Layout
from matassets.training.objectives import RegressionObjective


def _objective() -> RegressionObjective:
    objective = RegressionObjective(["band_gap"], huber_delta=0.05, hurdle=True)
    objective.fit(np.array([[0.0], [0.0], [1.0], [3.0]]))  # synthetic targets: two metals
    return objective


def test_the_value_is_learned_above_the_bound_and_the_gate_on_every_labelled_crystal():
    objective = _objective()
    y = torch.tensor([[0.0], [2.0], [float("nan")], [0.0], [1.5]])
    out = torch.randn(5, 2, requires_grad=True)  # columns: value, at-the-bound logit
    objective.loss_fn(out, y).backward()
    value_grad, logit_grad = out.grad[:, 0], out.grad[:, 1]
    assert value_grad[[0, 2, 3]].abs().sum() == 0  # metals and the unlabelled crystal
    assert (value_grad[[1, 4]] != 0).all()
    assert logit_grad[2] == 0 and (logit_grad[[0, 1, 3, 4]] != 0).all()
    assert (logit_grad[[0, 3]] < 0).all() and (logit_grad[[1, 4]] > 0).all()  # metals pushed up


def test_the_prediction_is_the_bound_where_the_gate_says_so_and_the_value_elsewhere():
    objective = _objective()
    z = (np.array([2.0, 2.0, -1.0]) - objective.mean[0]) / objective.std[0]
    out = np.stack([z, [0.3, -0.3, -5.0]], axis=1)
    np.testing.assert_allclose(objective.decode(out)[:, 0], [0.0, 2.0, 0.0])  # gate; value; clip


def test_a_hurdle_needs_a_lower_bound():
    with pytest.raises(ValueError, match="no plausible range"):
        RegressionObjective(["a_property_without_range"], bounds=[None], hurdle=True)


@pytest.mark.slow
def test_a_hurdle_band_gap_model_predicts_metals_at_zero_and_predict_reads_it_back(smoke_copy):
    """Trained on the real smoke data: the folder says it is a hurdle model, its at-zero predictions
    fall far more often on metals than on the other crystals, and ``load_model`` (``matassets
    predict``, the screening) decodes the raw outputs by the same rule as training's predictions."""
    from matassets.assets.phase1 import cgcnn_asset
    from matassets.data.pipeline import current_graphs_path
    from matassets.graphs.store import GraphStore
    from matassets.inference.predict import load_model
    from matassets.training.trainer import GraphSplit, predict

    config = {"ops": {"cgcnn_band_gap": {"config": {"hurdle": True, "huber_delta": 0.05, "epochs": 8}}}}
    assert materialize([cgcnn_asset("band_gap")], smoke_copy, run_config=config).success
    folder = Layout(smoke_copy).model_dir("cgcnn_band_gap", "smoke")
    assert json.loads((folder / "normalization.json").read_text())["hurdle"] is True
    assert json.loads((folder / "config.json").read_text())["architecture"]["n_out"] == 2
    rows = pl.read_csv(folder / "predictions.csv")
    metal = rows["band_gap_true"].to_numpy() == 0.0
    at_zero = rows["band_gap_pred"].to_numpy() == 0.0
    assert at_zero[metal].mean() > 0.5 > at_zero[~metal].mean()

    model = load_model(folder)
    store = GraphStore.load(current_graphs_path(Layout(smoke_copy), "smoke"))
    index = np.arange(len(store))
    raw = predict(
        model.model, GraphSplit(store, index, np.zeros((len(index), 1), np.float32)), 64, torch.device("cpu")
    )
    value = np.clip(raw[:, 0] * model.objective.std[0] + model.objective.mean[0], 0.0, 30.0)
    expected = np.where(raw[:, 1] >= 0.0, 0.0, value)
    np.testing.assert_allclose(model.predict_store(store)[:, 0], expected, rtol=1e-5, atol=1e-6)
