r"""TopoGNN: a crystal-graph classifier of the topological flag (Phase 4).

The message passing is CGCNN's gated convolution (Xie & Grossman, PRL 120, 145301 (2018)) on the
Phase 1 graphs; what differs is the readout and the head, chosen for a classification target that
can hinge on a few atoms (heavy elements with strong spin-orbit coupling, band inversion on one
sublattice):

.. math::
    g = \big[\tfrac{1}{|V|}\textstyle\sum_i h_i \,\Vert\, \max_i h_i\big], \qquad
    \text{logits} = W_2\,\mathrm{Dropout}(\mathrm{softplus}(W_1 g + b_1)) + b_2

Mean pooling alone averages such atoms away; the max keeps the strongest per-channel signal. Dropout
also acts between convolutions. The output is ``n_out`` logits (1 for the binary flag, trained with
``BinaryObjective``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from matassets.graphs.features import N_FEATURES, element_features
from matassets.graphs.store import GraphBatch
from matassets.models.cgcnn import GatedGraphConv
from matassets.models.layers import GaussianExpansion, fixed_neighbor_count, mean_pool


def max_pool(x: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Per-channel maximum of node rows per graph (graphs with no node give 0)."""
    out = x.new_zeros(num_graphs, x.shape[1])
    index = batch[:, None].expand_as(x)
    return out.scatter_reduce(0, index, x, reduce="amax", include_self=False)


class TopoGNN(nn.Module):
    """Element features → embedding → n gated convolutions (dropout between) → mean‖max → MLP."""

    def __init__(
        self,
        hidden: int,
        n_layers: int,
        cutoff: float,
        gaussian_step: float,
        n_out: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.register_buffer("features", torch.tensor(element_features()))  # a copy: the table is cached
        self.expand = GaussianExpansion(cutoff, gaussian_step)
        self.embed = nn.Linear(N_FEATURES, hidden)
        self.convs = nn.ModuleList(GatedGraphConv(hidden, self.expand.size) for _ in range(n_layers))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Sequential(
            nn.Linear(2 * hidden, hidden),
            nn.Softplus(),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_out),
        )

    def encode(self, batch: GraphBatch) -> torch.Tensor:
        """One vector per crystal: mean and max of the atom states after message passing."""
        h = self.embed(self.features[batch.z])
        edge_attr = self.expand(batch.edge_dist)
        per_atom = fixed_neighbor_count(batch.edge_index, h.shape[0])
        for conv in self.convs:
            h = self.dropout(conv(h, batch.edge_index, edge_attr, per_atom))
        return torch.cat(
            [mean_pool(h, batch.batch, batch.num_graphs), max_pool(h, batch.batch, batch.num_graphs)],
            dim=1,
        )

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        return self.head(F.softplus(self.encode(batch)))
