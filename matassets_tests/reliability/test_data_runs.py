"""Data runs of one level cannot interleave, and a refused data set leaves the stored tables alone.

Two real Dagster runs of the data assets (raw_structures → structures → splits → crystal_graphs) on
the smoke level share one instance: run A reads a user's CSV (``files`` source), run B the
embedded snapshot. A is held just before its ``structures`` step until B has ended (a wait wrapped
around the real ``build_structures``, the only thing the test adds), so B runs while A is in
progress. Before the partition lock, both succeeded and A's ``structures`` validated B's raw table:
its metadata named a hash that is not of the table on disk, and the user's rows were nowhere. Now B
is refused at its first step, naming A's run, and everything A's metadata says is what is on disk.

A ``files`` run whose data are too few for the level fails ``enough_clean_structures`` without
rewriting the level's ``structures`` / ``quarantine`` tables (issue 21: the stored table used to be
replaced before the blocking check failed).
"""

from __future__ import annotations

import threading

import dagster as dg
import polars as pl
import pytest

from matassets.assets.data import crystal_graphs, raw_structures, splits, structures
from matassets.assets.resources import ProjectResource
from matassets.data import pipeline
from matassets.data.embedded import load_embedded
from matassets.data.pipeline import frame_hash
from matassets.paths import Layout

DATA_ASSETS = [raw_structures, structures, splits, crystal_graphs]


def user_csv(path, n: int, prefix: str = "user-") -> str:
    """``n`` embedded crystals written as a user's CSV table: id, CIF text, formation energy."""
    from pymatgen.core import Structure

    rows = load_embedded().head(n).to_dicts()
    frame = pl.DataFrame(
        {
            "id": [f"{prefix}{i}" for i in range(n)],
            "structure": [Structure.from_str(r["structure"], fmt="json").to(fmt="cif") for r in rows],
            "formation_energy": [r["formation_energy"] for r in rows],
        }
    )
    frame.write_csv(path)
    return str(path)


def files_config(path: str) -> dict:
    return {"ops": {"raw_structures": {"config": {"source": "files", "path": path}}}}


def run(instance, root, run_config=None, assets=DATA_ASSETS):
    return dg.materialize(
        assets,
        partition_key="smoke",
        instance=instance,
        run_config=run_config or {},
        resources={"project": ProjectResource(root=str(root))},
        raise_on_error=False,
    )


def metadata(result, asset: str) -> dict:
    for event in result.get_asset_materialization_events():
        if event.asset_key == dg.AssetKey(asset):
            return {k: v.value for k, v in event.materialization.metadata.items()}
    raise AssertionError(f"no materialization of {asset}")


def failure_messages(result) -> str:
    return "\n".join(
        e.event_specific_data.error.to_string()
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE"
    )


@pytest.mark.slow  # real Dagster runs of the data assets (about a minute)
def test_two_data_runs_of_one_level_cannot_interleave(tmp_path, monkeypatch):
    root = tmp_path / "project"
    table = user_csv(tmp_path / "mine.csv", 150)
    a_waiting, b_done = threading.Event(), threading.Event()
    results: dict[str, dg.ExecuteInProcessResult] = {}
    real = pipeline.build_structures

    def held(*args, **kwargs):
        if threading.current_thread().name == "run-A":
            a_waiting.set()
            assert b_done.wait(300), "run B did not end"
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "build_structures", held)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(home)) as instance:

        def run_a() -> None:
            results["A"] = run(instance, root, files_config(table))

        thread = threading.Thread(target=run_a, name="run-A")
        thread.start()
        try:
            assert a_waiting.wait(300), "run A did not reach its structures step"
            results["B"] = run(instance, root)  # the embedded snapshot, same level
        finally:
            b_done.set()
            thread.join(600)
        a, b = results["A"], results["B"]
        assert a.success, failure_messages(a)
        assert not b.success
        assert f"another data run of level smoke is in progress (run {a.run_id}" in failure_messages(b)
        assert b.get_asset_materialization_events() == []  # B wrote nothing

    layout = Layout(root)
    raw = pl.read_parquet(layout.raw("smoke"))
    assert metadata(a, "raw_structures")["data_hash"] == frame_hash(raw)
    assert raw.height == 150 and raw["id"].str.starts_with("user-").all()
    clean = pl.read_parquet(layout.structures("smoke"))
    assert metadata(a, "structures")["data_hash"] == frame_hash(clean)
    assert clean.height == metadata(a, "structures")["clean rows"] == 150
    assert metadata(a, "splits")["data_hash"] == frame_hash(clean)


def test_claim_level_refuses_another_active_run_and_hands_over_when_it_ends(tmp_path):
    """The claim itself: a step of another run is refused while the owner is in progress; steps of
    the owner pass; another level is independent; an ended owner hands over. A run the instance does
    not know (another instance) counts as in progress while the process that claimed lives."""
    from matassets.locks import RunInProgressError, claim_level

    layout = Layout(tmp_path)
    lock = layout.data_run_lock("smoke")
    active = {"run-1"}

    def status(run_id: str) -> bool | None:
        return run_id in active

    claim_level(lock, "smoke", "run-1", status)
    with pytest.raises(
        RunInProgressError, match=r"another data run of level smoke is in progress \(run run-1"
    ):
        claim_level(lock, "smoke", "run-2", status)
    claim_level(lock, "smoke", "run-1", status)  # the owner's next step
    claim_level(layout.data_run_lock("lite"), "lite", "run-2", status)  # another level
    active.clear()  # run-1 has ended
    claim_level(lock, "smoke", "run-2", status)

    # an unknown run: in progress while its (other, live) process lives, not when it is this one
    import json
    import subprocess
    import sys

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.write_text(json.dumps({"run_id": "elsewhere", "pid": other.pid}))
        with pytest.raises(RunInProgressError, match=f"run elsewhere, pid {other.pid}"):
            claim_level(lock, "smoke", "run-3", lambda run_id: None)
    finally:
        other.kill()
        other.wait()
    claim_level(lock, "smoke", "run-3", lambda run_id: None)  # its process is gone


@pytest.mark.slow  # real Dagster runs of the data assets (about a minute)
def test_a_refused_data_set_leaves_the_stored_tables_unchanged(tmp_path):
    root = tmp_path / "project"
    with dg.DagsterInstance.ephemeral() as instance:
        first = run(instance, root, assets=[raw_structures, structures])
        assert first.success
        layout = Layout(root)
        paths = [layout.structures("smoke"), layout.quarantine("smoke")]
        before = {p: p.read_bytes() for p in paths}
        small = user_csv(tmp_path / "few.csv", 30)  # the smoke level needs 100 clean structures
        second = run(instance, root, files_config(small), assets=[raw_structures, structures])
    assert not second.success
    assert {p: p.read_bytes() for p in paths} == before
    checks = {c.check_name: c for c in second.get_asset_check_evaluations()}
    assert not checks["enough_clean_structures"].passed
    assert (
        "30 clean structures; the smoke level needs at least 100"
        in checks["enough_clean_structures"].description
    )
    assert "stored tables are unchanged" in checks["enough_clean_structures"].description
    assert {p: p.read_bytes() for p in paths} == before
    assert all(e.asset_key != dg.AssetKey("structures") for e in second.get_asset_materialization_events())
