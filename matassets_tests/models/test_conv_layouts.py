"""The gated convolution's two layouts (dense fixed-neighbour, edge-list scatter) are one function."""

import copy

import numpy as np
import pytest
import torch

from matassets.paths import Layout


@pytest.fixture(scope="module")
def smoke_batch(smoke_root):
    from matassets.data.pipeline import current_graphs_path
    from matassets.graphs.store import GraphStore

    store = GraphStore.load(current_graphs_path(Layout(smoke_root), "smoke"))
    return store.collate(np.arange(min(len(store), 48)))


def test_smoke_graphs_have_a_fixed_neighbour_count(smoke_batch):
    from matassets.models.layers import fixed_neighbor_count

    n = len(smoke_batch.z)
    assert fixed_neighbor_count(smoke_batch.edge_index, n) == 12
    # edges out of receiver order, or one edge missing: no fixed layout
    shuffled = smoke_batch.edge_index[:, torch.randperm(smoke_batch.edge_index.shape[1])]
    assert fixed_neighbor_count(shuffled, n) is None
    assert fixed_neighbor_count(smoke_batch.edge_index[:, 1:], n) is None


def outputs_and_grads(model, batch):
    out = model(batch)
    (out**2).sum().backward()
    return out.detach(), {k: p.grad for k, p in model.named_parameters()}


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize(
    "options", [{}, {"angle_order": 2}, {"angle_bins": 9}], ids=["plain", "order", "bins"]
)
def test_cgcnn_dense_and_scatter_layouts_agree(smoke_batch, train, options):
    from matassets.models.cgcnn import CGCNN

    torch.manual_seed(0)
    dense = CGCNN(64, 3, 8.0, 0.2, **options).train(train)
    scatter = copy.deepcopy(dense)
    scatter.dense_layout = False
    assert dense.state_dict().keys() == scatter.state_dict().keys()
    out_d, grad_d = outputs_and_grads(dense, smoke_batch)
    out_s, grad_s = outputs_and_grads(scatter, smoke_batch)
    torch.testing.assert_close(out_d, out_s, rtol=1e-5, atol=1e-5)
    for name, g in grad_d.items():
        torch.testing.assert_close(g, grad_s[name], rtol=1e-4, atol=1e-5, msg=name)


def test_gated_conv_layouts_agree_on_real_edges(smoke_batch):
    """The layer TopoGNN shares, called directly with and without the neighbour count."""
    from matassets.models.cgcnn import GatedGraphConv
    from matassets.models.layers import GaussianExpansion

    torch.manual_seed(1)
    expand = GaussianExpansion(8.0, 0.2)
    conv = GatedGraphConv(32, expand.size)
    h = torch.randn(len(smoke_batch.z), 32, requires_grad=True)
    edge_attr = expand(smoke_batch.edge_dist)
    dense = conv(h, smoke_batch.edge_index, edge_attr, 12)
    (grad_dense,) = torch.autograd.grad(dense.sum(), h)
    scatter = conv(h, smoke_batch.edge_index, edge_attr)
    (grad_scatter,) = torch.autograd.grad(scatter.sum(), h)
    torch.testing.assert_close(dense, scatter, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad_dense, grad_scatter, rtol=1e-4, atol=1e-5)
