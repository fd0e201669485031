"""Angular messages (``angle_order``): each bond's sums over its atom's other bonds of
(cos θ)^n times a learned bond state, on real smoke graphs, checked against a loop over bond pairs."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from matassets.paths import Layout

ORDER = 3


@pytest.fixture(scope="module")
def smoke_batch(smoke_root):
    from matassets.data.pipeline import current_graphs_path
    from matassets.graphs.store import GraphStore

    store = GraphStore.load(current_graphs_path(Layout(smoke_root), "smoke"))
    return store.collate(np.arange(min(len(store), 6)))


def by_loop(edge_index, edge_vec, s: np.ndarray, k: int) -> np.ndarray:
    """The docstring's formula, one bond pair at a time: s is (bonds, order + 1, channels)."""
    centre = edge_index[0].numpy()
    unit = edge_vec.double().numpy()
    unit = unit / np.linalg.norm(unit, axis=1)[:, None]
    out = np.zeros(s.shape)
    for a in range(len(unit)):
        for b in np.flatnonzero(centre == centre[a]):
            if b != a:
                cos = unit[a] @ unit[b]
                out[a] += cos ** np.arange(s.shape[1])[:, None] * s[b]
    return out.reshape(len(unit), -1) / k


def messages(module, batch, h, edge_attr, edge_index, edge_vec, per_atom):
    from matassets.models.angles import BondBlocks, direction_powers

    blocks = BondBlocks(edge_index[0], len(h), edge_vec, per_atom)
    return module(h, edge_index, edge_attr, blocks, direction_powers(blocks, module.order))


def test_angular_messages_are_the_pair_sum_on_real_bonds_in_either_layout_and_any_order(smoke_batch):
    from matassets.models.angles import AngularMessages

    torch.manual_seed(0)
    batch = smoke_batch
    h = torch.randn(len(batch.z), 8)
    edge_attr = torch.randn(batch.edge_index.shape[1], 5)
    module = AngularMessages(8, 5, ORDER, 4)
    with torch.no_grad():
        dense = messages(module, batch, h, edge_attr, batch.edge_index, batch.edge_vec, 12)
        source = torch.cat([h[batch.edge_index[1]], edge_attr], 1)
        s = F.softplus(module.source(source)).view(-1, ORDER + 1, 4)
    # the output is ordered power by power: (bonds, order + 1, channels) in the loop's layout
    expected = by_loop(batch.edge_index, batch.edge_vec, s.double().numpy(), 12)
    got = dense.view(-1, ORDER + 1, 4).double().numpy().reshape(len(expected), -1)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert dense.std(0).min() > 1e-3  # real crystals: every power and channel varies between bonds
    order = torch.randperm(len(dense), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        shuffled = messages(
            module, batch, h, edge_attr[order], batch.edge_index[:, order], batch.edge_vec[order], None
        )
    torch.testing.assert_close(shuffled, dense[order], rtol=1e-5, atol=1e-6)


def test_a_lone_bond_gets_zeros_and_the_order_must_be_one_or_more():
    from matassets.models.angles import AngularMessages

    module = AngularMessages(2, 1, 1, 3)
    edge_index = torch.tensor([[0, 0, 1], [1, 1, 0]])
    vec = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.5, 0.0], [0.0, 0.0, 2.0]])
    with torch.no_grad():
        got = messages(module, None, torch.randn(2, 2), torch.randn(3, 1), edge_index, vec, None)
    assert torch.equal(got[2], torch.zeros(6))
    # atom 0's bonds are at 90°: the first power (cos θ = 0) is zero, the zeroth is not
    assert torch.all(got[:2, 3:].abs() < 1e-6) and torch.all(got[:2, :3] > 0)
    with pytest.raises(ValueError, match="at least 1"):
        AngularMessages(2, 1, 0, 3)


@pytest.mark.parametrize("angle_bins", [0, 5])  # alone and beside the histogram (the same bond blocks)
def test_cgcnn_with_angular_messages_is_rotation_invariant_and_sees_an_angle_change(smoke_batch, angle_bins):
    """In float64: a bent bond moves the output by ~1e-6 at initialisation, rotation by ~1e-15."""
    from matassets.models.cgcnn import CGCNN

    torch.manual_seed(0)
    model = CGCNN(32, 2, 8.0, 0.2, angle_bins=angle_bins, angle_order=2).double().eval()
    batch = replace(
        smoke_batch, edge_dist=smoke_batch.edge_dist.double(), edge_vec=smoke_batch.edge_vec.double()
    )
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    bent = batch.edge_vec.clone()
    bent[0] = bent[0].flip(0)  # same length, another direction: only angles change
    with torch.no_grad():
        base = model(batch)
        rotated = model(replace(batch, edge_vec=batch.edge_vec @ q.T))
        assert (rotated - base).abs().max() < 1e-12
        assert (model(replace(batch, edge_vec=bent)) - base).abs().max() > 1e-8
        plain = CGCNN(32, 2, 8.0, 0.2).double().eval()
        assert (plain(replace(batch, edge_vec=bent)) - plain(batch)).abs().max() == 0  # distances only


def test_angle_order_travels_in_the_architecture_block_and_a_warm_start_needs_the_same(smoke_batch):
    from matassets.levels import CGCNN, DATA
    from matassets.models.registry import build_model
    from matassets.training.graph_model import invariant_architecture

    preset = CGCNN["smoke"]
    assert "angle_order" not in invariant_architecture("cgcnn", preset, DATA["smoke"])
    with_angles = replace(preset, angle_order=2)
    for family in ("cgcnn", "topognn"):
        model = build_model(invariant_architecture(family, with_angles, DATA["smoke"]))
        assert model.convs[0].edge.in_features == model.expand.size + 3 * (preset.hidden // 4)
        assert len(model.angular) == preset.n_layers
    with pytest.raises(ValueError, match="angular messages, not schnet"):
        invariant_architecture("schnet", with_angles, DATA["smoke"])
    source = build_model(invariant_architecture("cgcnn", with_angles, DATA["smoke"]))
    target = build_model(invariant_architecture("cgcnn", with_angles, DATA["smoke"]))
    copied = target.load_encoder(source.state_dict())
    assert any(name.startswith("angular.") for name in copied)
    torch.testing.assert_close(target.angular[0].source.weight, source.angular[0].source.weight)
    plain = build_model(invariant_architecture("cgcnn", preset, DATA["smoke"]))
    with pytest.raises(ValueError, match="does not fit"):
        plain.load_encoder(source.state_dict())
