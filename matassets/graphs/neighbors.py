"""Periodic neighbour graphs: for each atom, its ``max_neighbors`` nearest atoms within ``cutoff``.

Neighbours come from pymatgen's C neighbour list (``Structure.get_neighbor_list``), which counts
every periodic image; the nearest-k cut is one vectorised sort, with no per-atom Python loop.

Distances and vectors are rounded to ``DECIMALS`` decimals of an ångström before anything else.
A symmetric crystal has many neighbours at one distance, which floating point gives a last bit
apart; sorting the raw values let that bit (another CPU's rounding, a lattice scaled by 1e-15)
decide which neighbours come first and which are cut: 246 of 400 embedded crystals got other edges
from a last-bit change, so two machines built graph stores with other bytes from the same data
(DVC saw a new ``data/graphs`` version and every model trained on it stale). Rounded, equal
distances are equal and are ordered by neighbour index and periodic image.

Rounding alone does not make the bytes the same on every machine: a value that lies on a rounding
boundary (4.32845 Å, a decimal lattice times a simple fraction) rounds by its last bit. pymatgen's
distances come from Cartesian coordinates that NumPy computes with BLAS, whose kernels (FMA or not,
summation order) differ between CPUs; one embedded crystal in 3,000 has such a distance, and a
fifth machine built other std graphs. So the vectors and distances are computed here from the
fractional coordinates and the lattice matrix with element-wise IEEE operations in a fixed order
(each correctly rounded: the same bits on every CPU); pymatgen only proposes the candidate pairs,
within a margin of the cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DECIMALS = 4  # 1e-4 Å: far below what a structure's coordinates mean, far above a last-bit change
CANDIDATE_MARGIN = 1e-6  # Å beyond the cutoff: pymatgen's own distances may be a few bits off ours


@dataclass
class CrystalGraph:
    z: np.ndarray  # (n_atoms,) atomic numbers
    edge_index: np.ndarray  # (2, n_edges) int64: row 0 = centre (receiver), row 1 = neighbour
    edge_dist: np.ndarray  # (n_edges,) float32, Å
    edge_vec: np.ndarray  # (n_edges, 3) float32, neighbour image minus centre, Å


def times_matrix(rows: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``rows @ matrix`` for 3 columns, element-wise in a fixed order (no BLAS: the same bits on
    every CPU)."""
    return rows[:, :1] * matrix[0] + rows[:, 1:2] * matrix[1] + rows[:, 2:3] * matrix[2]


def build_graph(structure, cutoff: float, max_neighbors: int) -> CrystalGraph:
    """The neighbour graph of one periodic structure."""
    centers, neighbors, images, _ = structure.get_neighbor_list(r=cutoff + CANDIDATE_MARGIN)
    lattice = np.asarray(structure.lattice.matrix, dtype=np.float64)
    cart = times_matrix(np.asarray(structure.frac_coords, dtype=np.float64), lattice)
    vec = cart[neighbors] + times_matrix(images.astype(np.float64), lattice) - cart[centers]
    dist = np.sqrt(vec[:, 0] * vec[:, 0] + vec[:, 1] * vec[:, 1] + vec[:, 2] * vec[:, 2])
    within = dist <= cutoff
    centers, neighbors, images, vec = centers[within], neighbors[within], images[within], vec[within]
    dist = np.round(dist[within], DECIMALS)
    # sort by (centre, distance, neighbour index, image): ties are broken the same on every machine
    order = np.lexsort((images[:, 2], images[:, 1], images[:, 0], neighbors, dist, centers))
    centers, neighbors, vec, dist = centers[order], neighbors[order], vec[order], dist[order]
    starts = np.searchsorted(centers, centers, side="left")
    rank = np.arange(len(centers)) - starts
    keep = rank < max_neighbors
    centers, neighbors, vec, dist = centers[keep], neighbors[keep], vec[keep], dist[keep]
    return CrystalGraph(
        z=np.asarray(structure.atomic_numbers, dtype=np.int64),
        edge_index=np.stack([centers, neighbors]).astype(np.int64),
        edge_dist=dist.astype(np.float32),
        edge_vec=np.round(vec, DECIMALS).astype(np.float32),
    )


def gaussian_centers(cutoff: float, step: float) -> np.ndarray:
    """Gaussian centres on [0, cutoff] every ``step`` Å (CGCNN: 0..8 Å, step 0.2 → 41)."""
    return np.linspace(0.0, cutoff, int(round(cutoff / step)) + 1, dtype=np.float32)
