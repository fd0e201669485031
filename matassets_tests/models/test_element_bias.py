"""CGCNN's optional per-element output term (``element_bias``): a composition average added to the
head's output, starting at zero, on real smoke graphs."""

import numpy as np
import pytest
import torch

from matassets.paths import Layout


@pytest.fixture(scope="module")
def smoke_batch(smoke_root):
    from matassets.data.pipeline import current_graphs_path
    from matassets.graphs.store import GraphStore

    store = GraphStore.load(current_graphs_path(Layout(smoke_root), "smoke"))
    return store.collate(np.arange(min(len(store), 32)))


def test_element_bias_starts_as_the_plain_model_and_adds_the_composition_average(smoke_batch):
    from matassets.models.cgcnn import CGCNN

    torch.manual_seed(0)
    plain = CGCNN(32, 2, 8.0, 0.2).eval()
    torch.manual_seed(0)
    biased = CGCNN(32, 2, 8.0, 0.2, element_bias=True).eval()
    with torch.no_grad():
        base = plain(smoke_batch)
        torch.testing.assert_close(biased(smoke_batch), base)  # same weights, zero term
        element = int(torch.mode(smoke_batch.z).values)
        biased.element_bias.weight[element] = 1.0
        shift = (biased(smoke_batch) - base)[:, 0]
    counts = torch.bincount(smoke_batch.batch, minlength=smoke_batch.num_graphs).double()
    with_it = torch.bincount(smoke_batch.batch[smoke_batch.z == element], minlength=smoke_batch.num_graphs)
    fraction = with_it.double() / counts
    assert (fraction > 0).any() and (fraction == 0).any()
    torch.testing.assert_close(shift.double(), fraction, rtol=1e-5, atol=1e-6)


def test_element_bias_travels_in_the_architecture_block_and_only_for_cgcnn():
    from dataclasses import replace

    from matassets.levels import CGCNN, DATA
    from matassets.models.registry import build_model
    from matassets.training.graph_model import invariant_architecture

    preset = CGCNN["smoke"]
    assert "element_bias" not in invariant_architecture("cgcnn", preset, DATA["smoke"])
    biased = replace(preset, element_bias=True)
    architecture = invariant_architecture("cgcnn", biased, DATA["smoke"])
    assert build_model(architecture).element_bias is not None
    with pytest.raises(ValueError, match="only CGCNN"):
        invariant_architecture("topognn", biased, DATA["smoke"])
