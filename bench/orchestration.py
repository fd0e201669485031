"""Orchestration overhead: a smoke materialization through Dagster vs the same training call direct."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path


def run(quick: bool = False) -> dict:
    """Best of 3 (quick: 1) interleaved pairs of direct and Dagster runs."""
    import dagster as dg

    from matassets.assets.data import crystal_graphs, raw_structures, splits, structures
    from matassets.assets.phase1 import cgcnn_asset, phase1_command
    from matassets.levels import CGCNN, DATA
    from matassets.paths import Layout
    from matassets.resources import ProjectResource
    from matassets.training.graph_model import RunSpec, invariant_architecture, train_graph_model

    root = Path(tempfile.mkdtemp(prefix="bench-orch-"))
    resources = {"project": ProjectResource(root=str(root))}
    dg.materialize(
        [raw_structures, structures, splits, crystal_graphs], partition_key="smoke", resources=resources
    )
    asset = cgcnn_asset("formation_energy")
    data, preset = DATA["smoke"], CGCNN["smoke"]
    spec = RunSpec(
        asset="bench_direct",
        phase="phase1",
        algorithm="cgcnn",
        tasks=["formation_energy"],
        partition="smoke",
        preset=preset,
        data=data,
        command=phase1_command("formation_energy", "smoke"),
        architecture=invariant_architecture("cgcnn", preset, data),
    )
    train_graph_model(Layout(root), spec, log=lambda m: None)  # warm caches and imports
    direct, dagster = [], []
    for _ in range(1 if quick else 3):
        t = time.perf_counter()
        train_graph_model(Layout(root), spec, log=lambda m: None)
        direct.append(time.perf_counter() - t)
        t = time.perf_counter()
        dg.materialize([asset], partition_key="smoke", resources=resources)
        dagster.append(time.perf_counter() - t)
    return {"direct_s": min(direct), "dagster_s": min(dagster), "ratio": min(dagster) / min(direct)}
