"""Orchestration overhead: a smoke materialization through Dagster vs the same training call direct,
and an unchanged re-materialization (training skipped) vs a full one."""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from pathlib import Path

from matassets import environment


def run(quick: bool = False) -> dict:
    """Best of 3 (quick: 1) interleaved pairs of full trainings, direct and through Dagster: the same
    work on both sides (``force``: neither reuses the folder; both write every file, plot and run
    record). The Dagster run's fixed cost is its wall time outside the training it ran (the run
    record's duration), so it is measured in the same run whatever the load does to training.

    One torch thread unless ``$MATASSETS_THREADS`` says otherwise: with two threads on the shared
    2-core machine the same smoke training took 0.7 to 26 s from one run to the next (threads
    spin-waiting on descheduled siblings), which drowned the ~0.1 s being measured.
    """
    with environment.restored("MATASSETS_THREADS"):
        os.environ["MATASSETS_THREADS"] = os.environ.get("MATASSETS_THREADS") or "1"
        return {"threads": os.environ["MATASSETS_THREADS"], **_measure(quick)}


def _measure(quick: bool) -> dict:
    import dagster as dg

    from matassets.assets.data import crystal_graphs, raw_structures, splits, structures
    from matassets.assets.phase1 import FAMILY, cgcnn_asset
    from matassets.assets.resources import ProjectResource
    from matassets.levels import CGCNN, DATA
    from matassets.paths import Layout
    from matassets.training.graph_model import RunSpec, invariant_architecture, train_graph_model
    from matassets.training.options import RunOptions

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
        command=FAMILY.command("smoke", "formation_energy"),
        architecture=invariant_architecture("cgcnn", preset, data),
    )
    forced = dataclasses.replace(spec, options=RunOptions(force=True))
    force = {"ops": {asset.key.to_user_string(): {"config": {"force": True}}}}

    def direct(s: RunSpec) -> tuple[float, float]:
        t = time.perf_counter()
        out = train_graph_model(Layout(root), s, log=lambda m: None)
        return time.perf_counter() - t, out.record["duration_s"]

    def dagster(run_config: dict) -> tuple[float, float]:
        t = time.perf_counter()
        result = dg.materialize([asset], partition_key="smoke", resources=resources, run_config=run_config)
        wall = time.perf_counter() - t
        return wall, result.get_asset_materialization_events()[0].materialization.metadata["duration s"].value

    direct(forced), dagster(force)  # warm caches and imports on both paths
    pairs = [(direct(forced), dagster(force)) for _ in range(1 if quick else 3)]
    skips = [(direct(spec), dagster({})) for _ in range(1 if quick else 3)]
    direct_s = min(d[0] for d, _ in pairs)
    dagster_s = min(g[0] for _, g in pairs)
    return {
        "direct_s": direct_s,
        "dagster_s": dagster_s,
        "ratio": dagster_s / direct_s,
        "dagster_fixed_s": min(g[0] - g[1] for _, g in pairs),
        "direct_fixed_s": min(d[0] - d[1] for d, _ in pairs),
        "skip_direct_s": min(d[0] for d, _ in skips),
        "skip_dagster_s": min(g[0] for _, g in skips),
    }
