"""The element-feature table is cached once per process and shared by every model built in it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from matassets.graphs.features import element_features
from matassets.models.registry import build_model

ARCHITECTURES = {
    "cgcnn": {"family": "cgcnn", "hidden": 8, "n_layers": 1, "cutoff": 8.0, "gaussian_step": 1.0},
    "topognn": {"family": "topognn", "hidden": 8, "n_layers": 1, "cutoff": 8.0, "gaussian_step": 1.0},
    "e3nn": {"family": "e3nn", "hidden_irreps": ["4x0e"], "lmax": 1, "r_max": 5.0},
}


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_loading_a_model_leaves_the_shared_element_table_alone(name):
    """A saved model whose feature buffer differs (a folder from another feature table) writes its
    buffer on load; the table every later model of the process starts from must not change."""
    before = element_features().copy()
    model = build_model(ARCHITECTURES[name])
    state = model.state_dict()
    state["features"] = torch.zeros_like(state["features"])
    model.load_state_dict(state)
    assert float(model.features.abs().sum()) == 0.0
    np.testing.assert_array_equal(element_features(), before)
    assert not build_model(ARCHITECTURES[name]).features.equal(model.features)


def test_the_shared_table_refuses_writes():
    with pytest.raises(ValueError, match="read-only"):
        element_features()[1, 0] = 5.0
