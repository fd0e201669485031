"""Bond-angle features (``angle_bins``): each bond's smoothed histogram of its angles with its atom's
other bonds, on real smoke graphs, checked against a loop over the bond pairs."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from matassets.paths import Layout

BINS = 7


@pytest.fixture(scope="module")
def smoke_batch(smoke_root):
    from matassets.data.pipeline import current_graphs_path
    from matassets.graphs.store import GraphStore

    store = GraphStore.load(current_graphs_path(Layout(smoke_root), "smoke"))
    return store.collate(np.arange(min(len(store), 6)))


def by_loop(edge_index, edge_vec, bins: int, cutoff: float) -> np.ndarray:
    """The docstring's formula, one bond pair at a time."""
    centre = edge_index[0].numpy()
    vec = edge_vec.double().numpy()
    dist = np.linalg.norm(vec, axis=1)
    weight = 0.5 * (np.cos(math.pi * dist / cutoff) + 1.0) * (dist < cutoff)
    mu, width = np.linspace(-1.0, 1.0, bins), 2.0 / (bins - 1)
    out = np.zeros((len(vec), bins))
    for a in range(len(vec)):
        total = np.zeros(bins)
        norm = 0.0
        for b in np.flatnonzero(centre == centre[a]):
            if b == a:
                continue
            cos = vec[a] @ vec[b] / (dist[a] * dist[b])
            total += weight[b] * np.exp(-((cos - mu) ** 2) / width**2)
            norm += weight[b]
        out[a] = total / norm if norm > 0 else 0.0
    return out


def test_the_histogram_is_the_formula_on_real_bonds_in_any_edge_order(smoke_batch):
    from matassets.models.angles import BondAngleHistogram, BondBlocks

    angles = BondAngleHistogram(BINS, 8.0)
    n = len(smoke_batch.z)
    got = angles(BondBlocks(smoke_batch.edge_index[0], n, smoke_batch.edge_vec))
    assert got.shape == (smoke_batch.edge_index.shape[1], BINS)
    expected = by_loop(smoke_batch.edge_index, smoke_batch.edge_vec, BINS, 8.0)
    np.testing.assert_allclose(got.double().numpy(), expected, rtol=1e-4, atol=1e-5)
    assert got.std(0).min() > 0.01  # real crystals: every bin varies between bonds
    order = torch.randperm(len(got), generator=torch.Generator().manual_seed(0))
    shuffled = angles(BondBlocks(smoke_batch.edge_index[0, order], n, smoke_batch.edge_vec[order]))
    torch.testing.assert_close(shuffled, got[order])


def test_a_lone_bond_gets_zeros_and_the_bins_must_be_two_or_more():
    from matassets.models.angles import BondAngleHistogram, BondBlocks

    edge_index = torch.tensor([[0, 0, 1], [1, 1, 0]])
    vec = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.5, 0.0], [0.0, 0.0, 2.0]])
    got = BondAngleHistogram(5, 8.0)(BondBlocks(edge_index[0], 2, vec))
    assert torch.equal(got[2], torch.zeros(5))
    # the two bonds of atom 0 are at 90°: each sees the other at cos 0, the middle bin
    assert int(got[0].argmax()) == int(got[1].argmax()) == 2
    with pytest.raises(ValueError, match="at least 2 bins"):
        BondAngleHistogram(1, 8.0)


def test_cgcnn_with_angles_is_rotation_invariant_and_sees_an_angle_change(smoke_batch):
    from matassets.models.cgcnn import CGCNN

    torch.manual_seed(0)
    model = CGCNN(32, 2, 8.0, 0.2, angle_bins=BINS).eval()
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(1)))
    rotated = replace(smoke_batch, edge_vec=smoke_batch.edge_vec @ q.T)
    bent = smoke_batch.edge_vec.clone()
    bent[0] = bent[0].flip(0)  # same length, another direction: only angles change
    with torch.no_grad():
        base = model(smoke_batch)
        torch.testing.assert_close(model(rotated), base, rtol=1e-4, atol=1e-5)
        assert not torch.allclose(model(replace(smoke_batch, edge_vec=bent)), base)


def test_angle_bins_travel_in_the_architecture_block_for_the_gated_convolutions_only():
    from matassets.levels import CGCNN, DATA
    from matassets.models.registry import build_model
    from matassets.training.graph_model import invariant_architecture

    preset = CGCNN["smoke"]
    assert "angle_bins" not in invariant_architecture("cgcnn", preset, DATA["smoke"])
    with_angles = replace(preset, angle_bins=BINS)
    for family in ("cgcnn", "topognn"):
        model = build_model(invariant_architecture(family, with_angles, DATA["smoke"]))
        assert model.convs[0].edge.in_features == model.expand.size + BINS
    with pytest.raises(ValueError, match="not schnet"):
        invariant_architecture("schnet", with_angles, DATA["smoke"])
