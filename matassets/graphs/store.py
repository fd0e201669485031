"""A graph store: every crystal graph of a data set in a few concatenated tensors.

One file, loadable with ``torch.load(weights_only=True)`` and without Dagster. Batches are cut
from the concatenated tensors with vectorised index arithmetic (no per-graph Python objects in the
training loop); ``to_data(i)`` gives a torch_geometric ``Data`` for anyone who wants one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from matassets.graphs.features import element_features
from matassets.graphs.neighbors import build_graph
from matassets.io import atomic_write

FORMAT_VERSION = 1


@dataclass
class GraphBatch:
    """A mini-batch of graphs; ``edge_index`` row 0 is the receiving atom."""

    z: torch.Tensor
    edge_index: torch.Tensor
    edge_dist: torch.Tensor
    edge_vec: torch.Tensor
    batch: torch.Tensor  # graph index of each atom
    num_graphs: int

    def to(self, device: torch.device | str) -> GraphBatch:
        return GraphBatch(
            self.z.to(device),
            self.edge_index.to(device),
            self.edge_dist.to(device),
            self.edge_vec.to(device),
            self.batch.to(device),
            self.num_graphs,
        )


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + c) for every (s, c), without a Python loop."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + np.arange(total) - offsets


@dataclass
class GraphStore:
    ids: list[str]
    z: torch.Tensor  # (N,) int64
    node_ptr: torch.Tensor  # (G + 1,)
    edge_index: torch.Tensor  # (2, E) local to each graph
    edge_ptr: torch.Tensor  # (G + 1,)
    edge_dist: torch.Tensor  # (E,) float32
    edge_vec: torch.Tensor  # (E, 3) float32
    settings: dict

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(
        cls, ids: list[str], structures: list, cutoff: float, max_neighbors: int
    ) -> GraphStore:
        graphs = [build_graph(s, cutoff, max_neighbors) for s in structures]
        n_nodes = np.array([len(g.z) for g in graphs], dtype=np.int64)
        n_edges = np.array([g.edge_dist.size for g in graphs], dtype=np.int64)
        cat = np.concatenate
        return cls(
            ids=list(ids),
            z=torch.from_numpy(cat([g.z for g in graphs])),
            node_ptr=torch.from_numpy(cat([[0], np.cumsum(n_nodes)])),
            edge_index=torch.from_numpy(cat([g.edge_index for g in graphs], axis=1)),
            edge_ptr=torch.from_numpy(cat([[0], np.cumsum(n_edges)])),
            edge_dist=torch.from_numpy(cat([g.edge_dist for g in graphs])),
            edge_vec=torch.from_numpy(cat([g.edge_vec for g in graphs]).reshape(-1, 3)),
            settings={
                "cutoff": cutoff,
                "max_neighbors": max_neighbors,
                "format_version": FORMAT_VERSION,
            },
        )

    def save(self, path: Path) -> Path:
        payload = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return atomic_write(path, lambda tmp: torch.save(payload, tmp))

    @classmethod
    def load(cls, path: Path) -> GraphStore:
        payload = torch.load(path, weights_only=True)
        if payload.get("settings", {}).get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{path}: graph store format is not version {FORMAT_VERSION}; rebuild it"
            )
        return cls(**payload)

    def index_of(self, ids: list[str]) -> np.ndarray:
        position = {i: k for k, i in enumerate(self.ids)}
        missing = [i for i in ids if i not in position]
        if missing:
            raise KeyError(f"{len(missing)} ids have no graph, e.g. {missing[:3]}")
        return np.array([position[i] for i in ids], dtype=np.int64)

    def stats(self) -> dict[str, float]:
        nodes = (self.node_ptr[1:] - self.node_ptr[:-1]).double()
        edges = (self.edge_ptr[1:] - self.edge_ptr[:-1]).double()
        return {
            "graphs": len(self),
            "atoms": int(nodes.sum()),
            "edges": int(edges.sum()),
            "mean_atoms": round(float(nodes.mean()), 2),
            "mean_edges_per_atom": round(float(edges.sum() / nodes.sum()), 2),
            "mean_edge_length_A": round(float(self.edge_dist.double().mean()), 3),
        }

    def collate(self, graph_indices: np.ndarray) -> GraphBatch:
        g = np.asarray(graph_indices, dtype=np.int64)
        node_ptr, edge_ptr = self.node_ptr.numpy(), self.edge_ptr.numpy()
        n_nodes = node_ptr[g + 1] - node_ptr[g]
        n_edges = edge_ptr[g + 1] - edge_ptr[g]
        nodes = torch.from_numpy(_ranges(node_ptr[g], n_nodes))
        edges = torch.from_numpy(_ranges(edge_ptr[g], n_edges))
        new_start = np.cumsum(n_nodes) - n_nodes
        shift = torch.from_numpy(np.repeat(new_start, n_edges))
        return GraphBatch(
            z=self.z[nodes],
            edge_index=self.edge_index[:, edges] + shift,
            edge_dist=self.edge_dist[edges],
            edge_vec=self.edge_vec[edges],
            batch=torch.from_numpy(np.repeat(np.arange(len(g)), n_nodes)),
            num_graphs=len(g),
        )

    def to_data(self, i: int):
        """Graph ``i`` as a torch_geometric ``Data`` (x = element features of each atom)."""
        from torch_geometric.data import Data

        b = self.collate(np.array([i]))
        x = torch.from_numpy(element_features())[b.z]
        return Data(
            x=x,
            z=b.z,
            edge_index=b.edge_index,
            edge_dist=b.edge_dist,
            edge_vec=b.edge_vec,
            id=self.ids[i],
            num_nodes=len(b.z),
        )
