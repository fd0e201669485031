"""SchNet: Schütt et al., J. Chem. Phys. 148, 241722 (2018), on the shared periodic graphs.

The interaction blocks are PyTorch Geometric's (``torch_geometric.nn.models.schnet``): a continuous
filter convolution whose filter is an MLP of the Gaussian-expanded distance, cut off smoothly at
``cutoff``,

.. math::
    h_i' = h_i + \\mathrm{Dense}\\Big(\\textstyle\\sum_j h_j W_1 \\odot
           \\mathrm{MLP}\\big(e(d_{ij})\\big)\\, \\tfrac12\\big(\\cos(\\pi d_{ij}/r_c) + 1\\big)\\Big).

PyG's own ``SchNet`` model builds its neighbour list with a radius search that knows no periodic
images; here the blocks run on the crystal graphs of ``graphs.store`` (periodic, nearest-12 within
the level's cutoff), so a crystal's atoms see their periodic neighbours. This module is also the
worked example of adding a model family (docs/architecture.md).
"""

from __future__ import annotations

import torch
from torch import nn

from matassets.graphs.store import GraphBatch
from matassets.models.layers import copy_encoder, mean_pool

MAX_Z = 120  # one embedding row per atomic number


class SchNet(nn.Module):
    """Atomic-number embedding → ``n_layers`` residual interaction blocks → mean pool → MLP."""

    def __init__(
        self,
        hidden: int,
        n_layers: int,
        cutoff: float,
        gaussian_step: float,
        n_out: int = 1,
        dropout: float = 0.0,
    ) -> None:
        from torch_geometric.nn.models.schnet import GaussianSmearing, InteractionBlock, ShiftedSoftplus

        super().__init__()
        n_gaussians = int(round(cutoff / gaussian_step)) + 1
        self.embed = nn.Embedding(MAX_Z, hidden)
        self.expand = GaussianSmearing(0.0, cutoff, n_gaussians)
        self.interactions = nn.ModuleList(
            InteractionBlock(hidden, n_gaussians, hidden, cutoff) for _ in range(n_layers)
        )
        self.head = nn.Sequential(
            nn.Linear(hidden, hidden // 2),
            ShiftedSoftplus(),
            nn.Dropout(dropout),
            nn.Linear(hidden // 2, n_out),
        )

    def encode(self, batch: GraphBatch) -> torch.Tensor:
        """One invariant vector per crystal."""
        h = self.embed(batch.z)
        edge_attr = self.expand(batch.edge_dist)
        # PyG passes messages from edge_index[0] to edge_index[1]; the store's row 0 is the receiver
        source_to_target = batch.edge_index.flip(0)
        for block in self.interactions:
            h = h + block(h, source_to_target, batch.edge_dist, edge_attr)
        return mean_pool(h, batch.batch, batch.num_graphs)

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        return self.head(self.encode(batch))

    def load_encoder(self, state: dict[str, torch.Tensor]) -> list[str]:
        """Copy another SchNet's trained embedding and interaction blocks (``state``) into this one
        (``warm_start_from``); its head is not copied."""
        return copy_encoder(self, state, ("embed.", "interactions."))
