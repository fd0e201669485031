"""Small building blocks shared by the GNNs."""

from __future__ import annotations

import math

import torch
from torch import nn


class GaussianExpansion(nn.Module):
    r"""Expand distances on fixed Gaussians: :math:`e_k(d) = \exp(-(d - \mu_k)^2 / \sigma^2)`.

    Centres :math:`\mu_k` every ``step`` Å on [0, cutoff] and :math:`\sigma` = ``step``, as in CGCNN.
    """

    def __init__(self, cutoff: float, step: float) -> None:
        super().__init__()
        n = int(round(cutoff / step)) + 1
        self.register_buffer("centers", torch.linspace(0.0, cutoff, n))
        self.width = step

    @property
    def size(self) -> int:
        return self.centers.numel()

    def forward(self, dist: torch.Tensor) -> torch.Tensor:
        return torch.exp(-((dist[:, None] - self.centers) ** 2) / self.width**2)


class BondAngleHistogram(nn.Module):
    r"""Per bond, the smoothed distribution of its angles with the other bonds of the same atom:
    three-body information for a model whose messages see only distances (CGCNN). For bond
    :math:`a` of atom :math:`i` and the cosines :math:`c_{ab}` of its angles with :math:`i`'s other
    bonds :math:`b`,

    .. math::
        f_{a,k} = \frac{\sum_{b \ne a} w_b \exp(-(c_{ab} - \mu_k)^2 / \sigma^2)}{\sum_{b \ne a} w_b},
        \quad w_b = \tfrac12 \big(\cos(\pi d_b / r_c) + 1\big)

    with ``bins`` centres :math:`\mu_k` evenly on [-1, 1], :math:`\sigma` their spacing, and
    Behler's cutoff function as the weight (a far neighbour counts less; ``r_c`` the graph's cutoff).
    Fixed, no parameters: computed from the batch's bond vectors (``edge_vec``) on the fly, so the
    stored graphs do not change. A bond of an atom with no other bond gets zeros.
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
    def forward(self, edge_index: torch.Tensor, edge_vec: torch.Tensor, n_nodes: int) -> torch.Tensor:
        centre = edge_index[0]
        n_edges = centre.numel()
        if n_edges == 0:
            return edge_vec.new_zeros(0, self.size)
        # each bond's slot among its atom's bonds (any edge order): a padded (atoms, k, 3) block
        order = torch.argsort(centre, stable=True)
        counts = torch.bincount(centre, minlength=n_nodes)
        starts = torch.cumsum(counts, 0) - counts
        slot = torch.empty_like(centre)
        slot[order] = torch.arange(n_edges, device=centre.device) - starts[centre[order]]
        k = int(counts.max())
        dist = edge_vec.norm(dim=1)
        unit = edge_vec / dist.clamp(min=1e-8)[:, None]
        weight = 0.5 * (torch.cos(math.pi * dist / self.cutoff) + 1.0) * (dist < self.cutoff)
        units = edge_vec.new_zeros(n_nodes, k, 3)
        units[centre, slot] = unit
        weights = edge_vec.new_zeros(n_nodes, k)
        weights[centre, slot] = weight
        others = weights[:, None, :] * (1.0 - torch.eye(k, dtype=edge_vec.dtype, device=edge_vec.device))
        cosines = units @ units.transpose(1, 2)  # (atoms, k, k)
        smooth = torch.exp(-((cosines[..., None] - self.centers) ** 2) / self.width**2)
        hist = (smooth * others[..., None]).sum(2) / others.sum(2).clamp(min=1e-8)[..., None]
        return hist[centre, slot]


def mean_pool(x: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Mean of node rows per graph (``batch`` gives each node's graph)."""
    total = x.new_zeros(num_graphs, x.shape[1]).index_add_(0, batch, x)
    count = torch.bincount(batch, minlength=num_graphs).clamp(min=1).to(x.dtype)
    return total / count[:, None]


def fixed_neighbor_count(edge_index: torch.Tensor, n_nodes: int) -> int | None:
    """``k`` when the edges are grouped by receiving atom in atom order, exactly ``k`` per atom
    (``edge_index[0]`` is ``0 … 0, 1 … 1, …``, as in CGCNN graphs where every atom has its
    ``max_neighbors`` within the cutoff), else None. One comparison over the edges."""
    n_edges = edge_index.shape[1]
    if n_nodes == 0 or n_edges == 0 or n_edges % n_nodes:
        return None
    k = n_edges // n_nodes
    atoms = torch.arange(n_nodes, device=edge_index.device)[:, None]
    return k if bool((edge_index[0].reshape(n_nodes, k) == atoms).all()) else None


def copy_encoder(model: nn.Module, state: dict[str, torch.Tensor], prefixes: tuple[str, ...]) -> list[str]:
    """Copy the tensors of ``state`` (another model's ``state_dict``) whose names start with one of
    ``prefixes`` into ``model``: a pretrained encoder, without its heads. Every such tensor must
    exist in ``model`` with the same shape (``model`` may have more on top). Returns the names
    copied."""
    own = model.state_dict()
    names = [k for k in state if k.startswith(prefixes)]
    bad = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape) if k in own else 'absent'}"
        for k in names
        if k not in own or own[k].shape != state[k].shape
    ]
    if bad or not names:
        raise ValueError(
            "the pretrained encoder does not fit this architecture: "
            + ("; ".join(bad[:5]) if bad else "no encoder tensors in the state")
        )
    with torch.no_grad():
        for k in names:
            own[k].copy_(state[k])
    return names
