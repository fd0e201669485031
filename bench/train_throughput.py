"""CGCNN training throughput (graphs/s) at the original code's settings (batch 256, 64 features,
3 convolutions, SGD): our model (dense fixed-neighbour layout when a batch allows it), our model
forced onto the edge-list scatter layout, and the original code's dense N x 12 layout; plus where an
epoch's time goes (collate / forward / backward / step, and the top operators of one profiled
epoch). Layouts are timed interleaved batch by batch, best of several epochs, so that load changes
on a shared machine hit all alike."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bench.common import embedded_structures
from matassets.graphs.store import GraphBatch, GraphStore
from matassets.models.cgcnn import CGCNN
from matassets.models.layers import mean_pool

MAX_NEIGHBORS = 12


class DenseConv(nn.Module):
    """The original CGCNN code's layer: every atom has exactly 12 neighbours in an (N, 12) index,
    the concatenation [h_i, h_j, u_ij] through one linear map per edge."""

    def __init__(self, hidden: int, edge_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(2 * hidden + edge_dim, 2 * hidden)
        self.bn1 = nn.BatchNorm1d(2 * hidden)
        self.bn2 = nn.BatchNorm1d(hidden)

    def forward(self, h, nbr, edge_attr):  # nbr (N, 12), edge_attr (N, 12, E)
        n, m = nbr.shape
        z = torch.cat([h[:, None, :].expand(n, m, h.shape[1]), h[nbr], edge_attr], dim=2)
        z = self.bn1(self.linear(z).view(n * m, -1)).view(n, m, -1)
        gate, core = z.chunk(2, dim=2)
        summed = (torch.sigmoid(gate) * F.softplus(core)).sum(1)
        return F.softplus(h + self.bn2(summed))


class DenseCGCNN(CGCNN):
    def __init__(self, hidden: int, n_layers: int) -> None:
        super().__init__(hidden, n_layers, 8.0, 0.2)
        self.convs = nn.ModuleList(DenseConv(hidden, self.expand.size) for _ in range(n_layers))

    def encode(self, batch: GraphBatch) -> torch.Tensor:
        h = self.embed(self.features[batch.z])
        n = h.shape[0]
        nbr = batch.edge_index[1].view(n, MAX_NEIGHBORS)
        edge_attr = self.expand(batch.edge_dist).view(n, MAX_NEIGHBORS, -1)
        for conv in self.convs:
            h = conv(h, nbr, edge_attr)
        return mean_pool(h, batch.batch, batch.num_graphs)


def full_neighbour_store() -> GraphStore:
    """The embedded crystals whose every atom has 12 neighbours within 8 Å (needed by the dense
    layout; edges are already sorted by centre)."""
    ids, structures = embedded_structures()
    store = GraphStore.build(ids, structures, 8.0, MAX_NEIGHBORS)
    counts = (store.edge_ptr[1:] - store.edge_ptr[:-1]) == MAX_NEIGHBORS * (
        store.node_ptr[1:] - store.node_ptr[:-1]
    )
    keep = [i for i, ok in enumerate(counts.tolist()) if ok]
    structures = [structures[i] for i in keep]
    return GraphStore.build([ids[i] for i in keep], structures, 8.0, MAX_NEIGHBORS)


def epoch(runs: dict[str, tuple[nn.Module, object]], store: GraphStore, batch_size: int) -> dict:
    """One training epoch of each (model, optimizer), batch by batch in turn, so that load changes
    on a shared machine hit every model alike; per model graphs/s and the fractions of its time
    spent collating, in forward, backward and the optimizer step."""
    order = np.random.default_rng(0).permutation(len(store))
    y = torch.zeros(len(store), 1)
    parts = {name: {"collate": 0.0, "forward": 0.0, "backward": 0.0, "step": 0.0} for name in runs}
    for model, _ in runs.values():
        model.train()
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        for name, (model, optimizer) in runs.items():
            t0 = time.perf_counter()
            batch = store.collate(idx)
            t1 = time.perf_counter()
            loss = F.mse_loss(model(batch), y[idx])
            t2 = time.perf_counter()
            optimizer.zero_grad()
            loss.backward()
            t3 = time.perf_counter()
            optimizer.step()
            t4 = time.perf_counter()
            for key, dt in zip(parts[name], (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                parts[name][key] += dt
    out = {}
    for name, seconds in parts.items():
        total = sum(seconds.values())
        out[name] = {
            "graphs_per_s": len(store) / total,
            "seconds": total,
            **{f"{k}_fraction": v / total for k, v in seconds.items()},
        }
    return out


ORIGINAL = "original settings (batch 256, 64 hidden, 3 conv, SGD)"
ANCHOR_GRAPHS_PER_S = 780  # the original CGCNN code at ORIGINAL on this machine kind (issue #9)
SCATTER, ORIGINAL_DENSE = "ours, forced edge-list scatter", "original dense (N x 12 concat)"


def model_for(layout: str, hidden: int, layers: int) -> nn.Module:
    if layout == ORIGINAL_DENSE:
        return DenseCGCNN(hidden, layers)
    model = CGCNN(hidden, layers, 8.0, 0.2)
    model.dense_layout = layout == "ours"
    return model


def top_operators(model: nn.Module, optimizer, store: GraphStore, batch_size: int, n: int = 8):
    """The ``n`` operators with the most self CPU time in one profiled epoch, with their share."""
    from torch.profiler import profile

    with profile() as prof:
        epoch({"model": (model, optimizer)}, store, batch_size)
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in ops)
    return [(e.key, e.self_cpu_time_total / total) for e in ops[:n]]


def run(quick: bool = False) -> dict:
    """Full: three layouts at the original settings, then ours and forced scatter at the std and
    smoke presets, best of 3 epochs. Quick: the original settings only, best of 2."""
    torch.manual_seed(0)
    store = full_neighbour_store()
    repeats = 2 if quick else 3
    configs = {ORIGINAL: (256, 64, 3, "sgd")}
    if not quick:
        configs["std preset (batch 64, 128 hidden, 3 conv, AdamW)"] = (64, 128, 3, "adamw")
        configs["smoke preset (batch 16, 64 hidden, 2 conv, AdamW)"] = (16, 64, 2, "adamw")
    rows, operators = {}, []
    for name, (batch, hidden, layers, opt) in configs.items():
        layouts = ["ours", SCATTER] + ([ORIGINAL_DENSE] if name == ORIGINAL else [])
        runs = {}
        for layout in layouts:
            model = model_for(layout, hidden, layers)
            optimizer = (
                torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
                if opt == "sgd"
                else torch.optim.AdamW(model.parameters(), lr=1e-3)
            )
            runs[layout] = (model, optimizer)
        results = [epoch(runs, store, batch) for _ in range(repeats)]
        for layout in layouts:
            rows[f"{name} / {layout}"] = max((r[layout] for r in results), key=lambda r: r["graphs_per_s"])
        if name == ORIGINAL:
            operators = top_operators(*runs["ours"], store=store, batch_size=batch)
    ours = rows[f"{ORIGINAL} / ours"]["graphs_per_s"]
    return {
        "graphs": len(store),
        "threads": torch.get_num_threads(),
        "rows": rows,
        "ours_graphs_per_s": ours,
        "ours_vs_scatter": ours / rows[f"{ORIGINAL} / {SCATTER}"]["graphs_per_s"],
        "ours_vs_original_dense": ours / rows[f"{ORIGINAL} / {ORIGINAL_DENSE}"]["graphs_per_s"],
        "operators": operators,
        "anchor_graphs_per_s": ANCHOR_GRAPHS_PER_S,
    }


ANGLE_OPTIONS = {"none": {}, "angle_bins=9": {"angle_bins": 9}, "angle_order=2": {"angle_order": 2}}


def angle_options(quick: bool = False) -> dict:
    """The cost of the three-body options (``angle_bins``, ``angle_order``) at the band-gap screens'
    settings (batch 64, 64 hidden, 3 convolutions, AdamW): graphs/s of each, timed interleaved
    batch by batch, best of 3 epochs (quick: 1), and the ratio of its time to the plain model's."""
    torch.manual_seed(0)
    store = full_neighbour_store()
    runs = {}
    for name, options in ANGLE_OPTIONS.items():
        model = CGCNN(64, 3, 8.0, 0.2, **options)
        runs[name] = (model, torch.optim.AdamW(model.parameters(), lr=1e-3))
    results = [epoch(runs, store, 64) for _ in range(1 if quick else 3)]
    best = {name: max(r[name]["graphs_per_s"] for r in results) for name in runs}
    return {
        "graphs": len(store),
        "threads": torch.get_num_threads(),
        "rows": {name: {"graphs_per_s": g, "time_ratio": best["none"] / g} for name, g in best.items()},
    }
