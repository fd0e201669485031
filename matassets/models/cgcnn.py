"""CGCNN: Xie & Grossman, Phys. Rev. Lett. 120, 145301 (2018)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from matassets.graphs.features import MAX_Z, N_FEATURES, element_features
from matassets.graphs.store import GraphBatch
from matassets.models.angles import AngularMessages, BondAngleHistogram, BondBlocks, direction_powers
from matassets.models.layers import GaussianExpansion, copy_encoder, fixed_neighbor_count, mean_pool


class GatedGraphConv(nn.Module):
    r"""CGCNN's gated convolution (the paper's Eq. 5).

    .. math::
        z_{ij} = h_i \oplus h_j \oplus u_{ij}, \quad
        h_i' = \mathrm{softplus}\Big(h_i + \mathrm{BN}\big(\textstyle\sum_j
               \sigma(z_{ij} W_f + b_f) \odot \mathrm{softplus}(z_{ij} W_s + b_s)\big)\Big)

    with batch norm on the concatenated pre-activations, as in the reference implementation.
    The linear map of the concatenation is split into its three blocks,
    :math:`z_{ij} W = h_i W_a + h_j W_b + u_{ij} W_c`, so the two node blocks are computed once per
    atom instead of once per edge (same function, about half the work per edge).

    Two layouts of the same function: the edge list (gather the atom rows per edge, scatter-add the
    messages back; any graph) and, when ``per_atom`` = k says the edges are grouped by receiver
    with exactly k per atom (see ``fixed_neighbor_count``), the original code's dense one: the
    messages viewed as (atoms, k, features) and summed over k, with no gather or scatter for the
    receiving atom. On a CPU the dense one is faster (docs/benchmarks.md).
    """

    def __init__(self, hidden: int, edge_dim: int) -> None:
        super().__init__()
        self.center = nn.Linear(hidden, 2 * hidden, bias=False)
        self.neighbor = nn.Linear(hidden, 2 * hidden, bias=False)
        self.edge = nn.Linear(edge_dim, 2 * hidden)
        self.bn_message = nn.BatchNorm1d(2 * hidden)
        self.bn_sum = nn.BatchNorm1d(hidden)

    def forward(
        self,
        h: torch.Tensor,
        edge_index: torch.Tensor,
        edge_attr: torch.Tensor,
        per_atom: int | None = None,
    ) -> torch.Tensor:
        center, neighbor = edge_index
        # index_select, not h[index]: its backward is an index_add, far faster on a CPU
        z = self.neighbor(h).index_select(0, neighbor) + self.edge(edge_attr)
        if per_atom is None:
            z = z + self.center(h).index_select(0, center)
        else:
            z = (z.view(-1, per_atom, z.shape[1]) + self.center(h)[:, None]).flatten(0, 1)
        gate, core = self.bn_message(z).chunk(2, dim=1)
        message = torch.sigmoid(gate) * F.softplus(core)
        if per_atom is None:
            summed = torch.zeros_like(h).index_add_(0, center, message)
        else:
            summed = message.view(-1, per_atom, message.shape[1]).sum(1)
        return F.softplus(h + self.bn_sum(summed))


class GatedConvTrunk(nn.Module):
    """Element features → embedding → ``n_layers`` gated convolutions: the atom states that CGCNN
    and TopoGNN read out, each in its own way.

    The convolutions take the dense layout whenever a batch has a fixed neighbour count per atom;
    ``dense_layout = False`` forces the edge-list one (benchmarks and tests; not saved in state).
    ``angle_bins`` > 0 appends each bond's histogram of angles (``BondAngleHistogram``) to its
    distance features; ``angle_order`` > 0 gives each convolution learned angular messages
    (``AngularMessages``, powers of the bond-angle cosine up to that order, ``hidden // 4``
    channels each) beside them. 0 (the default for both) is the paper's model.
    """

    dense_layout = True

    def __init__(
        self,
        hidden: int,
        n_layers: int,
        cutoff: float,
        gaussian_step: float,
        angle_bins: int = 0,
        angle_order: int = 0,
    ) -> None:
        super().__init__()
        self.register_buffer("features", torch.tensor(element_features()))  # a copy: the table is cached
        self.expand = GaussianExpansion(cutoff, gaussian_step)
        self.angles = BondAngleHistogram(angle_bins, cutoff) if angle_bins else None
        edge_dim = self.expand.size + (self.angles.size if self.angles is not None else 0)
        self.embed = nn.Linear(N_FEATURES, hidden)
        self.angular = None
        message_dim = edge_dim
        if angle_order:
            self.angular = nn.ModuleList(
                AngularMessages(hidden, edge_dim, angle_order, max(hidden // 4, 1)) for _ in range(n_layers)
            )
            message_dim += self.angular[0].size
        self.convs = nn.ModuleList(GatedGraphConv(hidden, message_dim) for _ in range(n_layers))

    def atom_states(self, batch: GraphBatch, after_conv: nn.Module | None = None) -> torch.Tensor:
        """The atom states after the last convolution (``after_conv`` applied after each one)."""
        h = self.embed(self.features[batch.z])
        edge_attr = self.expand(batch.edge_dist)
        per_atom = fixed_neighbor_count(batch.edge_index, h.shape[0]) if self.dense_layout else None
        if self.angles is not None or self.angular is not None:
            blocks = BondBlocks(batch.edge_index[0], h.shape[0], batch.edge_vec, per_atom)
        if self.angles is not None:
            edge_attr = torch.cat([edge_attr, self.angles(blocks)], 1)
        if self.angular is not None:
            powers = direction_powers(blocks, self.angular[0].order)
        for i, conv in enumerate(self.convs):
            message_attr = edge_attr
            if self.angular is not None:
                angular = self.angular[i](h, batch.edge_index, edge_attr, blocks, powers)
                message_attr = torch.cat([edge_attr, angular], 1)
            h = conv(h, batch.edge_index, message_attr, per_atom)
            if after_conv is not None:
                h = after_conv(h)
        return h

    def load_encoder(self, state: dict[str, torch.Tensor]) -> list[str]:
        """Copy another trunk's trained embedding and convolutions (``state``, its ``state_dict``)
        into this one: a warm start from a model of another property. Its head and per-element
        term are not copied; the shapes must match (same width, number of layers and angle
        options)."""
        return copy_encoder(self, state, ("embed.", "convs.", "angular."))


class CGCNN(GatedConvTrunk):
    """Element features → embedding → n gated convolutions → mean pool → MLP → ``n_out`` values.

    ``element_bias`` adds a learned value per element and output, averaged over the crystal's atoms,
    to the head's output: a linear composition term (the elemental reference energies of matgl's
    ``AtomRef``, learned with the model and starting at zero), so the convolutions fit what
    composition alone does not explain.
    """

    def __init__(
        self,
        hidden: int,
        n_layers: int,
        cutoff: float,
        gaussian_step: float,
        n_out: int = 1,
        head_hidden: int | None = None,
        dropout: float = 0.0,
        element_bias: bool = False,
        angle_bins: int = 0,
        angle_order: int = 0,
    ) -> None:
        super().__init__(hidden, n_layers, cutoff, gaussian_step, angle_bins, angle_order)
        head_hidden = head_hidden or 2 * hidden
        self.head = nn.Sequential(
            nn.Linear(hidden, head_hidden),
            nn.Softplus(),
            nn.Dropout(dropout),
            nn.Linear(head_hidden, n_out),
        )
        self.element_bias = None
        if element_bias:  # made last, zeroed: the other layers' initial weights do not change
            self.element_bias = nn.Embedding(MAX_Z + 1, n_out)
            nn.init.zeros_(self.element_bias.weight)

    def encode(self, batch: GraphBatch) -> torch.Tensor:
        """One invariant vector per crystal."""
        return mean_pool(self.atom_states(batch), batch.batch, batch.num_graphs)

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        out = self.head(F.softplus(self.encode(batch)))
        if self.element_bias is not None:
            out = out + mean_pool(self.element_bias(batch.z), batch.batch, batch.num_graphs)
        return out
