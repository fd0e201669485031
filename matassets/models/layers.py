"""Small building blocks shared by the GNNs."""

from __future__ import annotations

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
