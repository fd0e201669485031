"""Graph building: matassets (vectorised neighbour list) vs a per-structure, per-atom pymatgen
``get_all_neighbors`` baseline, the way the original CGCNN code builds its graphs."""

from __future__ import annotations

import numpy as np

from bench.common import embedded_structures, timed
from matassets.graphs.neighbors import build_graph

CUTOFF, MAX_NEIGHBORS = 8.0, 12


def baseline_graph(structure) -> list[np.ndarray]:
    """Per atom: the sorted distances of its 12 nearest neighbours (CGCNN's original loop)."""
    out = []
    for neighbors in structure.get_all_neighbors(CUTOFF, include_index=True):
        dists = sorted(n.nn_distance for n in neighbors)[:MAX_NEIGHBORS]
        out.append(np.array(dists))
    return out


def ours_as_baseline(structure) -> list[np.ndarray]:
    g = build_graph(structure, CUTOFF, MAX_NEIGHBORS)
    return [np.sort(g.edge_dist[g.edge_index[0] == i]) for i in range(len(structure))]


def run(quick: bool = False) -> dict:
    """Ours on every embedded structure; ours vs the baseline on a sample (300, quick: 100)."""
    n_baseline = 100 if quick else 300
    ids, structures = embedded_structures()
    ours_s, _ = timed(lambda: [build_graph(s, CUTOFF, MAX_NEIGHBORS) for s in structures])
    sample = structures[:n_baseline]
    ours_sample_s, _ = timed(lambda: [build_graph(s, CUTOFF, MAX_NEIGHBORS) for s in sample])
    base_s, base = timed(lambda: [baseline_graph(s) for s in sample])
    mismatches = sum(
        not all(np.allclose(a, b, atol=1e-4) for a, b in zip(x, ours_as_baseline(s), strict=True))
        for x, s in zip(base, sample, strict=True)
    )
    return {
        "structures": len(structures),
        "ours_all_s": ours_s,
        "ours_per_s": len(structures) / ours_s,
        "sample": n_baseline,
        "ours_sample_per_s": n_baseline / ours_sample_s,
        "baseline_sample_per_s": n_baseline / base_s,
        "speedup": base_s / ours_sample_s,
        "graphs_differing": mismatches,
    }
