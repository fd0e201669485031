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

from matassets.graphs.store import GraphBatch
from matassets.models.cgcnn import GatedConvTrunk
from matassets.models.layers import mean_pool


def max_pool(x: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Per-channel maximum of node rows per graph (graphs with no node give 0)."""
    out = x.new_zeros(num_graphs, x.shape[1])
    index = batch[:, None].expand_as(x)
    return out.scatter_reduce(0, index, x, reduce="amax", include_self=False)


class TopoGNN(GatedConvTrunk):
    """Element features → embedding → n gated convolutions (dropout between) → mean‖max → MLP."""

    def __init__(
        self,
        hidden: int,
        n_layers: int,
        cutoff: float,
        gaussian_step: float,
        n_out: int = 1,
        dropout: float = 0.0,
        angle_bins: int = 0,
        angle_order: int = 0,
    ) -> None:
        super().__init__(hidden, n_layers, cutoff, gaussian_step, angle_bins, angle_order)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Sequential(
            nn.Linear(2 * hidden, hidden),
            nn.Softplus(),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_out),
        )

    def encode(self, batch: GraphBatch) -> torch.Tensor:
        """One vector per crystal: mean and max of the atom states after message passing."""
        h = self.atom_states(batch, after_conv=self.dropout)
        return torch.cat(
            [mean_pool(h, batch.batch, batch.num_graphs), max_pool(h, batch.batch, batch.num_graphs)],
            dim=1,
        )

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        return self.head(F.softplus(self.encode(batch)))
