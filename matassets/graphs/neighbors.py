"""Periodic neighbour graphs: for each atom, its ``max_neighbors`` nearest atoms within ``cutoff``.

Neighbours come from pymatgen's C neighbour list (``Structure.get_neighbor_list``), which counts
every periodic image; the nearest-k cut is one vectorised sort, with no per-atom Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class CrystalGraph:
    z: np.ndarray  # (n_atoms,) atomic numbers
    edge_index: np.ndarray  # (2, n_edges) int64: row 0 = centre (receiver), row 1 = neighbour
    edge_dist: np.ndarray  # (n_edges,) float32, Å
    edge_vec: np.ndarray  # (n_edges, 3) float32, neighbour image minus centre, Å


def build_graph(structure, cutoff: float, max_neighbors: int) -> CrystalGraph:
    """The neighbour graph of one periodic structure."""
    centers, neighbors, images, dist = structure.get_neighbor_list(r=cutoff)
    # sort by (centre, distance, neighbour index) so ties are broken deterministically
    order = np.lexsort((neighbors, dist, centers))
    centers, neighbors, images, dist = centers[order], neighbors[order], images[order], dist[order]
    starts = np.searchsorted(centers, centers, side="left")
    rank = np.arange(len(centers)) - starts
    keep = rank < max_neighbors
    centers, neighbors, images, dist = centers[keep], neighbors[keep], images[keep], dist[keep]
    cart = structure.cart_coords
    vec = cart[neighbors] + images @ structure.lattice.matrix - cart[centers]
    return CrystalGraph(
        z=np.asarray(structure.atomic_numbers, dtype=np.int64),
        edge_index=np.stack([centers, neighbors]).astype(np.int64),
        edge_dist=dist.astype(np.float32),
        edge_vec=vec.astype(np.float32),
    )


def gaussian_centers(cutoff: float, step: float) -> np.ndarray:
    """Gaussian centres on [0, cutoff] every ``step`` Å (CGCNN: 0..8 Å, step 0.2 → 41)."""
    return np.linspace(0.0, cutoff, int(round(cutoff / step)) + 1, dtype=np.float32)
