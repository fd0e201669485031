"""Three-body information for the gated convolutions, whose messages otherwise see only distances:
a fixed histogram of each bond's angles (``angle_bins``) and learned angular messages
(``angle_order``). Both work on an atom's bonds as one padded block (``BondBlocks``)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class BondBlocks:
    """The bonds of each atom (``edge_index[0]``, any edge order) as rows of a padded
    (atoms, k, ...) block, k the largest bond count; absent slots hold zeros. With ``per_atom``
    (the dense layout of ``fixed_neighbor_count``) the block is a view of the bond rows. Holds
    the bonds' lengths (``dist``) and unit vectors (``unit``) from their vectors ``edge_vec``."""

    def __init__(
        self, centre: torch.Tensor, n_nodes: int, edge_vec: torch.Tensor, per_atom: int | None = None
    ) -> None:
        self.centre, self.n_nodes, self.per_atom = centre, n_nodes, per_atom
        self.dist = edge_vec.norm(dim=1)
        self.unit = edge_vec / self.dist.clamp(min=1e-8)[:, None]
        if per_atom is not None:
            self.k = per_atom
            return
        order = torch.argsort(centre, stable=True)
        counts = torch.bincount(centre, minlength=n_nodes)
        starts = torch.cumsum(counts, 0) - counts
        self.slot = torch.empty_like(centre)
        self.slot[order] = torch.arange(centre.numel(), device=centre.device) - starts[centre[order]]
        self.k = int(counts.max()) if centre.numel() else 0

    def block(self, rows: torch.Tensor) -> torch.Tensor:
        """(bonds, ...) → (atoms, k, ...)."""
        if self.per_atom is not None:
            return rows.view(self.n_nodes, self.k, *rows.shape[1:])
        out = rows.new_zeros(self.n_nodes, self.k, *rows.shape[1:])
        out[self.centre, self.slot] = rows
        return out

    def rows(self, block: torch.Tensor) -> torch.Tensor:
        """(atoms, k, ...) → (bonds, ...), the inverse of ``block``."""
        if self.per_atom is not None:
            return block.flatten(0, 1)
        return block[self.centre, self.slot]


class BondAngleHistogram(nn.Module):
    r"""Per bond, the smoothed distribution of its angles with the other bonds of the same atom.
    For bond :math:`a` of atom :math:`i` and the cosines :math:`c_{ab}` of its angles with
    :math:`i`'s other bonds :math:`b`,

    .. math::
        f_{a,k} = \frac{\sum_{b \ne a} w_b \exp(-(c_{ab} - \mu_k)^2 / \sigma^2)}{\sum_{b \ne a} w_b},
        \quad w_b = \tfrac12 \big(\cos(\pi d_b / r_c) + 1\big)

    with ``bins`` centres :math:`\mu_k` evenly on [-1, 1], :math:`\sigma` their spacing, and
    Behler's cutoff function as the weight (a far neighbour counts less; ``r_c`` the graph's cutoff).
    Fixed, no parameters: computed from the batch's bond vectors on the fly, so the stored graphs do
    not change. A bond of an atom with no other bond gets zeros. The bonds come as ``BondBlocks``
    (the angular messages read the same blocks).
    """

    def __init__(self, bins: int, cutoff: float) -> None:
        super().__init__()
        if bins < 2:
            raise ValueError(f"angle_bins={bins}: a histogram of angles needs at least 2 bins (0 = off)")
        self.register_buffer("centers", torch.linspace(-1.0, 1.0, bins))
        self.width = 2.0 / (bins - 1)
        self.cutoff = cutoff

    @property
    def size(self) -> int:
        return self.centers.numel()

    @torch.no_grad()
    def forward(self, blocks: BondBlocks) -> torch.Tensor:
        dist = blocks.dist
        if dist.shape[0] == 0:
            return dist.new_zeros(0, self.size)
        weight = 0.5 * (torch.cos(math.pi * dist / self.cutoff) + 1.0) * (dist < self.cutoff)
        units = blocks.block(blocks.unit)  # (atoms, k, 3)
        eye = torch.eye(blocks.k, dtype=dist.dtype, device=dist.device)
        others = blocks.block(weight)[:, None, :] * (1.0 - eye)
        cosines = units @ units.transpose(1, 2)  # (atoms, k, k)
        smooth = torch.exp(-((cosines[..., None] - self.centers) ** 2) / self.width**2)
        hist = (smooth * others[..., None]).sum(2) / others.sum(2).clamp(min=1e-8)[..., None]
        return blocks.rows(hist)


def direction_powers(blocks: BondBlocks, order: int) -> list[torch.Tensor]:
    r"""The tensor powers :math:`u^{\otimes n}` (flattened, :math:`3^n` values) of each bond's unit
    vector, n = 0 … ``order``, as (atoms, k, 3^n) blocks (absent slots zero):
    :math:`\langle u_a^{\otimes n}, u_b^{\otimes n} \rangle = (\cos\theta_{ab})^n`."""
    unit = blocks.unit
    power = torch.ones_like(unit[:, :1])
    powers = [blocks.block(power)]
    for _ in range(order):
        power = (power[:, :, None] * unit[:, None, :]).flatten(1)
        powers.append(blocks.block(power))
    return powers


class AngularMessages(nn.Module):
    r"""Learned three-body features of each bond: for bond :math:`a` of atom :math:`i`,

    .. math::
        m_{a,n} = \frac{1}{k} \sum_{b \ne a} (\cos\theta_{ab})^n \, s_{b,n}, \quad n = 0 \dots N,
        \qquad s_b = \mathrm{softplus}\big(W [h_{j(b)} \oplus e_b]\big)

    over the atom's other bonds :math:`b` (to neighbour :math:`j(b)`, distance features
    :math:`e_b`), ``channels`` values per power, ``k`` the block width. The bond pairs and their
    angles are what ALIGNN's line graph passes messages over (Choudhary & DeCost, npj Comput.
    Mater. 7, 185 (2021)); here the pair sum is never formed: as
    :math:`(\cos\theta_{ab})^n = \langle u_a^{\otimes n}, u_b^{\otimes n} \rangle`, it is one sum per
    atom, :math:`A_{i,n} = \sum_b u_b^{\otimes n} s_{b,n}`, read back per bond as
    :math:`\langle u_a^{\otimes n}, A_{i,n} \rangle - s_{a,n}` (the atomic-density trick of ACE,
    Drautz, Phys. Rev. B 99, 014104 (2019)): cost linear in the bonds, not quadratic.
    Rotation invariant; each convolution has its own.
    """

    def __init__(self, hidden: int, edge_dim: int, order: int, channels: int) -> None:
        super().__init__()
        if order < 1:
            raise ValueError(f"angle_order={order}: angular messages need an order of at least 1 (0 = off)")
        self.order, self.channels, self.hidden = order, channels, hidden
        self.source = nn.Linear(hidden + edge_dim, (order + 1) * channels)

    @property
    def size(self) -> int:
        return (self.order + 1) * self.channels

    def forward(
        self,
        h: torch.Tensor,
        edge_index: torch.Tensor,
        edge_attr: torch.Tensor,
        blocks: BondBlocks,
        powers: list[torch.Tensor],
    ) -> torch.Tensor:
        # W [h_j ⊕ e_b] with W's atom columns applied once per atom, then gathered per bond
        atom_w, bond_w = self.source.weight.split([self.hidden, edge_attr.shape[1]], 1)
        source = F.linear(h, atom_w).index_select(0, edge_index[1])
        source = source + F.linear(edge_attr, bond_w, self.source.bias)
        s = F.softplus(source).view(-1, self.order + 1, self.channels)
        s_block = blocks.block(s)  # (atoms, k, order + 1, channels)
        out = []
        for n, u in enumerate(powers):  # u: (atoms, k, 3^n)
            density = u.transpose(1, 2) @ s_block[:, :, n]  # (atoms, 3^n, channels)
            out.append(blocks.rows(u @ density) - s[:, n])
        return torch.cat(out, 1) / max(blocks.k, 1)
