"""The README's "Rules the platform keeps" for training: the test split is evaluated once, after
training (model selection sees validation only), the normalisation statistics are those of the
training rows, and a prediction stays inside its property's plausible range."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import polars as pl
import pytest
from conftest import materialize

from matassets.data.pipeline import load_splits
from matassets.paths import Layout

NAME = "cgcnn_formation_energy"


@pytest.mark.slow
def test_the_test_split_is_evaluated_once_after_training(smoke_copy, monkeypatch):
    """Every graph the run collates is counted (whatever function asks for it): during
    ``Trainer.fit`` (training, validation, early stopping, checkpoint choice) no test crystal is
    read; after it each test crystal is read exactly once, for the report."""
    from matassets.assets.phase1 import cgcnn_asset
    from matassets.graphs.store import GraphStore
    from matassets.training.trainer import Trainer

    test_ids = set(load_splits(Layout(smoke_copy), "smoke").ids("test"))
    reads: list[tuple[bool, str]] = []  # (inside fit, id)
    inside = [False]
    collate, fit = GraphStore.collate, Trainer.fit

    def counting_collate(self, graph_indices):
        reads.extend((inside[0], self.ids[int(i)]) for i in np.asarray(graph_indices))
        return collate(self, graph_indices)

    def marked_fit(self, *args, **kwargs):
        inside[0] = True
        try:
            return fit(self, *args, **kwargs)
        finally:
            inside[0] = False

    monkeypatch.setattr(GraphStore, "collate", counting_collate)
    monkeypatch.setattr(Trainer, "fit", marked_fit)
    result = materialize([cgcnn_asset("formation_energy")], smoke_copy, run_config=_epochs(2))
    assert result.success
    during = [i for inside_fit, i in reads if inside_fit and i in test_ids]
    assert during == [], f"{len(during)} test crystals read during training / model selection"
    after = Counter(i for inside_fit, i in reads if not inside_fit and i in test_ids)
    labelled = _labelled(smoke_copy, "test")
    assert set(after) == labelled  # every labelled test crystal evaluated ...
    assert set(after.values()) == {1}  # ... once
    assert any(inside_fit for inside_fit, _ in reads)  # the counter did see training


def test_normalisation_statistics_are_the_training_rows_statistics(smoke_root, phase1_smoke):
    folder = Layout(smoke_root).model_dir(NAME, "smoke")
    saved = json.loads((folder / "normalization.json").read_text())
    assert saved["tasks"] == ["formation_energy"]
    clean = pl.read_parquet(Layout(smoke_root).structures("smoke"))
    ids = load_splits(Layout(smoke_root), "smoke").ids("train")
    y = clean.filter(pl.col("id").is_in(ids))["formation_energy"].drop_nulls().to_numpy()
    assert len(y) == len(_labelled(smoke_root, "train"))
    assert saved["mean"] == pytest.approx([y.mean()], rel=1e-5)
    assert saved["std"] == pytest.approx([y.std()], rel=1e-5)  # population std, as numpy's default
    # and not the statistics of all labelled rows (what a leak of val/test into them would give)
    everything = clean["formation_energy"].drop_nulls().to_numpy()
    assert abs(everything.mean() - y.mean()) > 1e-4


@pytest.mark.slow
def test_a_band_gap_prediction_is_never_negative(smoke_copy):
    """A smoke band-gap model trained for the median (Huber delta 0.05) puts metals' raw outputs
    below 0 eV; what it reports, stores and predicts is clipped into band gap's plausible range
    [0, 30] eV (properties.json)."""
    import torch

    from matassets.assets.phase1 import cgcnn_asset
    from matassets.data.pipeline import current_graphs_path
    from matassets.graphs.store import GraphStore
    from matassets.inference.predict import load_model
    from matassets.training.trainer import GraphSplit, predict

    config = {"ops": {"cgcnn_band_gap": {"config": {"huber_delta": 0.05, "epochs": 8}}}}
    assert materialize([cgcnn_asset("band_gap")], smoke_copy, run_config=config).success
    folder = Layout(smoke_copy).model_dir("cgcnn_band_gap", "smoke")
    assert json.loads((folder / "normalization.json").read_text())["bounds"] == [[0.0, 30.0]]
    stored = pl.read_csv(folder / "predictions.csv")["band_gap_pred"].to_numpy()
    assert stored.min() == 0.0
    model = load_model(folder)
    store = GraphStore.load(current_graphs_path(Layout(smoke_copy), "smoke"))
    index = np.arange(len(store))
    raw = predict(
        model.model, GraphSplit(store, index, np.zeros((len(index), 1), np.float32)), 64, torch.device("cpu")
    )
    unclipped = raw[:, 0] * model.objective.std[0] + model.objective.mean[0]
    assert (unclipped < 0).sum() > 10  # the clip has work to do
    predicted = model.predict_store(store)[:, 0]
    np.testing.assert_allclose(predicted, np.maximum(unclipped, 0.0), rtol=1e-5, atol=1e-6)


def _epochs(n: int) -> dict:
    return {"ops": {NAME: {"config": {"epochs": n}}}}


def _labelled(root, split: str) -> set[str]:
    clean = pl.read_parquet(Layout(root).structures("smoke"))
    ids = load_splits(Layout(root), "smoke").ids(split)
    return set(clean.filter(pl.col("id").is_in(ids) & pl.col("formation_energy").is_not_null())["id"])
