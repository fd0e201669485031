"""Celery workers: the four smoke CGCNN models on 1 worker vs 2 workers, and the Celery path's cost
against the in-process executor (docs/deploy.md; needs PostgreSQL and RabbitMQ, else it says which
is missing and measures nothing).

All three runs use one PostgreSQL instance (a database of their own, dropped afterwards) and the same
smoke data, and retrain all four models (``force``; full mode: ``EPOCHS`` epochs each, so that a
step lasts seconds and not the ~1 s of Dagster's own polling: dagster-celery looks at its tasks
once a second, and a step waiting for a pool slot is retried after 1 s or more), one torch thread
per process whatever ``$MATASSETS_THREADS`` says (two workers of two threads oversubscribed two
cores in session 26's ``make bench``: 2 workers slower than 1): what differs is only where the
steps run. The ``training`` pool has 2 slots. Each worker is warmed by one untimed run first (its
pool process imports torch on its first step), as a worker of a running cluster is; the in-process
side is warmed the same way.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from matassets import environment

MODELS = ["cgcnn_G_VRH", "cgcnn_K_VRH", "cgcnn_band_gap", "cgcnn_formation_energy"]
EPOCHS = 30  # full mode; quick keeps the smoke preset's


def run(quick: bool = False) -> dict:
    """Wall times of the four forced trainings: in process, on 1 worker, on 2 workers (best of 2,
    quick: 1), and the ratios."""
    from matassets.deploy import executor, services

    if not executor.dagster_celery_installed():
        return {"skipped": "dagster-celery is not installed"}
    try:
        services.Postgres.from_env().check()
        services.check_broker()
    except services.ServiceUnavailable as error:
        return {"skipped": str(error).split(": ")[0]}
    with environment.restored("MATASSETS_THREADS"):
        os.environ["MATASSETS_THREADS"] = "1"
        return {"threads": 1, **_measure(1 if quick else 2, None if quick else EPOCHS)}


def _measure(repeat: int, epochs: int | None) -> dict:
    import dagster as dg
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    from matassets.assets.resources import ProjectResource
    from matassets.cli.cluster import wait_for_workers
    from matassets.definitions import defs
    from matassets.deploy.executor import celery_run_config
    from matassets.deploy.instance import write_instance_yaml
    from matassets.deploy.processes import Processes
    from matassets.deploy.services import Postgres
    from matassets.levels import CGCNN
    from matassets.paths import PROJECT_ROOT

    base = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    root = base / "root"
    data = dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.groups("data"),
        partition_key="smoke",
        resources={"project": ProjectResource(root=str(root))},
    )
    assert data.success
    pg = Postgres.from_env(f"matassets_bench_{uuid.uuid4().hex[:10]}")
    pg.create_database()
    home = base / "home"
    write_instance_yaml(home, pg, training_slots=2)
    repo = ReconstructableRepository.for_module("matassets.definitions", "defs", str(PROJECT_ROOT))
    job = repo.get_reconstructable_job("phase1_job")
    steps = {"epochs": epochs, "patience": epochs} if epochs else {}
    forced = {
        "resources": {"project": {"config": {"root": str(root)}}},
        "ops": {name: {"config": {"force": True, **steps}} for name in MODELS},
    }
    procs = Processes(base / "state")
    env = {**os.environ, "MATASSETS_ROOT": str(root), "MATASSETS_EXECUTOR": "celery"}

    def timed(execution: dict) -> float:
        start = time.perf_counter()
        result = dg.execute_job(
            job,
            instance=instance,
            run_config={**forced, **execution},
            tags={"dagster/partition": "smoke"},
            asset_selection=[dg.AssetKey(m) for m in MODELS],
        )
        assert result.success
        return time.perf_counter() - start

    def start_worker(name: str) -> None:
        procs.start(name, [sys.executable, "-m", "matassets.cli", "cluster", "worker", "--name", name], env)
        names = [r.name for r in procs.records()]
        assert wait_for_workers(names, timeout=300) == sorted(names)

    in_process = {"execution": {"config": {"in_process": {}}}}
    tag = f"bench{os.getpid()}"
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            timed(in_process)  # warm
            in_process_s = min(timed(in_process) for _ in range(repeat))
            start_worker(f"{tag}a")
            timed(celery_run_config())  # warm worker a
            one_s = min(timed(celery_run_config()) for _ in range(repeat))
            start_worker(f"{tag}b")
            timed(celery_run_config())  # warm worker b (and a again)
            two_s = min(timed(celery_run_config()) for _ in range(repeat))
    finally:
        procs.stop_all(timeout=20)
        pg.drop_database(pg.db_name)
        shutil.rmtree(base, ignore_errors=True)
    return {
        "in_process_s": in_process_s,
        "one_worker_s": one_s,
        "two_workers_s": two_s,
        "speedup_two_over_one": one_s / two_s,
        "celery_over_in_process": one_s / in_process_s,
        "celery_cost_per_step_s": (one_s - in_process_s) / len(MODELS),
        "repeat": repeat,
        "epochs": epochs or f"smoke preset ({CGCNN['smoke'].epochs})",
    }


def lines(result: dict) -> list[str]:
    """The Markdown of ``run()``'s result for docs/benchmarks.md."""
    if "skipped" in result:
        return [f"Not measured: {result['skipped']}."]
    r = result
    return [
        f"Four forced smoke CGCNN trainings (`phase1_job`, the four models only, epochs: "
        f"{r['epochs']}), instance on PostgreSQL, pool `training` 2 slots, {r['threads']} torch "
        f"thread(s) per process, best of {r['repeat']} after a warm-up run:",
        "",
        "| executor | wall time |",
        "|---|---|",
        f"| in process | {r['in_process_s']:.1f} s |",
        f"| Celery, 1 worker | {r['one_worker_s']:.1f} s |",
        f"| Celery, 2 workers | {r['two_workers_s']:.1f} s |",
        "",
        f"**1 worker / 2 workers: {r['speedup_two_over_one']:.2f}×**; Celery (1 worker) / in process: "
        f"{r['celery_over_in_process']:.2f}× ({r['celery_cost_per_step_s']:+.2f} s per step).",
    ]


if __name__ == "__main__":
    out = run("--quick" in sys.argv)
    print(out)
    print("\n".join(lines(out)))
