"""A graph store: every crystal graph of a data set in a few concatenated tensors.

One file, loadable with ``torch.load(weights_only=True)`` and without Dagster. Batches are cut
from the concatenated tensors with vectorised index arithmetic (no per-graph Python objects in the
training loop); ``to_data(i)`` gives a torch_geometric ``Data`` for anyone who wants one.
Data sets too large to hold in memory use a folder of such files instead (``graphs.sharded``);
``load_store`` opens either kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from matassets.graphs.features import element_features
from matassets.graphs.neighbors import CrystalGraph, build_graph
from matassets.io import atomic_write, torch_save

FORMAT_VERSION = 1
REBUILD = "materialize crystal_graphs of its level again (matassets data --level <level>) to rebuild it"


class CorruptGraphStoreError(RuntimeError):
    """A graph store (or a shard of one) is missing, unreadable or does not match its recorded hash."""


def digest_path(path: Path) -> Path:
    """``graphs-<key>.pt.sha256``: the sha256 a single-file store was written with."""
    return path.with_name(path.name + ".sha256")


def store_intact(path: Path) -> bool:
    """The store file exists, its sha256 was recorded and its bytes still match it."""
    from matassets.io import sha256_file

    recorded = digest_path(path)
    if not (path.is_file() and recorded.is_file()):
        return False
    return sha256_file(path, length=64) == recorded.read_text(encoding="ascii").strip()


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


def index_in(all_ids: list[str], ids: list[str]) -> np.ndarray:
    """The positions of ``ids`` in ``all_ids``; a clear error for ids that are not there."""
    position = {i: k for k, i in enumerate(all_ids)}
    missing = [i for i in ids if i not in position]
    if missing:
        raise KeyError(f"{len(missing)} ids have no graph, e.g. {missing[:3]}")
    return np.array([position[i] for i in ids], dtype=np.int64)


def summary_stats(graphs: int, atoms: int, edges: int, edge_length_sum: float) -> dict[str, float]:
    """The numbers a person wants to see about a store, from its totals."""
    return {
        "graphs": graphs,
        "atoms": atoms,
        "edges": edges,
        "mean_atoms": round(atoms / graphs, 2),
        "mean_edges_per_atom": round(edges / atoms, 2),
        "mean_edge_length_A": round(edge_length_sum / edges, 3),
    }


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
    def build(cls, ids: list[str], structures: Iterable, cutoff: float, max_neighbors: int) -> GraphStore:
        """The store of ``structures`` (pymatgen structures, or their ``CrystalGraph`` already built
        with these settings, as the data step's workers give them); ``structures`` may be a generator:
        only the graphs are held."""
        graphs = [
            s if isinstance(s, CrystalGraph) else build_graph(s, cutoff, max_neighbors) for s in structures
        ]
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

    def save(self, path: Path, record_digest: bool = True) -> Path:
        """Write the store; with ``record_digest``, its sha256 beside it (``digest_path``), checked
        by every ``load``. (A shard's sha256 is kept in its sharded store's index instead.)"""
        from matassets.io import sha256_file

        payload = {k: getattr(self, k) for k in self.__dataclass_fields__}
        atomic_write(path, lambda tmp: torch_save(payload, tmp))
        if record_digest:
            digest = sha256_file(path, length=64)
            atomic_write(digest_path(path), lambda tmp: tmp.write_text(digest + "\n", encoding="ascii"))
        return path

    @classmethod
    def load(cls, path: Path) -> GraphStore:
        """The store at ``path``; a store whose bytes differ from the sha256 recorded when it was
        written is refused (``CorruptGraphStoreError`` names it and says how to rebuild it)."""
        from matassets.io import sha256_file

        path = Path(path)
        recorded = digest_path(path)
        if recorded.is_file():
            expected = recorded.read_text(encoding="ascii").strip()
            digest = sha256_file(path, length=64)
            if digest != expected:
                raise CorruptGraphStoreError(
                    f"{path}: graph store corrupted (sha256 {digest[:12]}… but {expected[:12]}… was "
                    f"written); {REBUILD}"
                )
        try:
            payload = torch.load(path, weights_only=True)
        except (RuntimeError, EOFError, OSError) as exc:
            raise CorruptGraphStoreError(f"{path}: graph store unreadable ({exc}); {REBUILD}") from exc
        if payload.get("settings", {}).get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: graph store format is not version {FORMAT_VERSION}; rebuild it")
        return cls(**payload)

    def index_of(self, ids: list[str]) -> np.ndarray:
        return index_in(self.ids, ids)

    def totals(self) -> dict[str, float]:
        """Graph, atom and edge counts and the summed edge length (a sharded store's index keeps
        these per shard, so its ``stats`` need not load any graph)."""
        return {
            "graphs": len(self),
            "atoms": len(self.z),
            "edges": len(self.edge_dist),
            "edge_length_sum": float(self.edge_dist.double().sum()),
        }

    def stats(self) -> dict[str, float]:
        t = self.totals()
        return summary_stats(t["graphs"], t["atoms"], t["edges"], t["edge_length_sum"])

    def shuffle(self, graph_indices: np.ndarray, seed: int) -> np.ndarray:
        """A seeded random order of the positions ``0 … len(graph_indices) - 1`` (one epoch)."""
        order = np.arange(len(graph_indices))
        np.random.default_rng(seed).shuffle(order)
        return order

    def _rows(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray, torch.Tensor, torch.Tensor]:
        """Atoms and edges per graph of ``g``, and the rows of their atoms and edges in the store."""
        node_ptr, edge_ptr = self.node_ptr.numpy(), self.edge_ptr.numpy()
        n_nodes = node_ptr[g + 1] - node_ptr[g]
        n_edges = edge_ptr[g + 1] - edge_ptr[g]
        nodes = torch.from_numpy(_ranges(node_ptr[g], n_nodes))
        return n_nodes, n_edges, nodes, torch.from_numpy(_ranges(edge_ptr[g], n_edges))

    def select(self, graph_indices: np.ndarray) -> GraphStore:
        """A store of just these graphs, in this order."""
        g = np.asarray(graph_indices, dtype=np.int64)
        n_nodes, n_edges, nodes, edges = self._rows(g)
        return GraphStore(
            ids=[self.ids[i] for i in g],
            z=self.z[nodes],
            node_ptr=torch.from_numpy(np.concatenate([[0], np.cumsum(n_nodes)])),
            edge_index=self.edge_index[:, edges],
            edge_ptr=torch.from_numpy(np.concatenate([[0], np.cumsum(n_edges)])),
            edge_dist=self.edge_dist[edges],
            edge_vec=self.edge_vec[edges],
            settings=self.settings,
        )

    @classmethod
    def concat(cls, stores: list[GraphStore]) -> GraphStore:
        """One store holding the graphs of ``stores`` in turn (they share their settings)."""

        def ptr(name: str) -> torch.Tensor:
            counts = [torch.diff(getattr(s, name)) for s in stores]
            return torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(torch.cat(counts), 0)])

        return cls(
            ids=[i for s in stores for i in s.ids],
            z=torch.cat([s.z for s in stores]),
            node_ptr=ptr("node_ptr"),
            edge_index=torch.cat([s.edge_index for s in stores], dim=1),
            edge_ptr=ptr("edge_ptr"),
            edge_dist=torch.cat([s.edge_dist for s in stores]),
            edge_vec=torch.cat([s.edge_vec for s in stores]),
            settings=stores[0].settings,
        )

    def collate(self, graph_indices: np.ndarray) -> GraphBatch:
        g = np.asarray(graph_indices, dtype=np.int64)
        n_nodes, n_edges, nodes, edges = self._rows(g)
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
        x = torch.from_numpy(element_features()[b.z.numpy()])  # indexing copies the read-only table
        return Data(
            x=x,
            z=b.z,
            edge_index=b.edge_index,
            edge_dist=b.edge_dist,
            edge_vec=b.edge_vec,
            id=self.ids[i],
            num_nodes=len(b.z),
        )
