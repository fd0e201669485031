"""Two runs of one asset partition cannot clobber each other (an exclusive lock, refused at once
with the holder's pid); two partitions train side by side. Runs are real processes."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
from train_child import ASSET, Child, copy_data, spec

from matassets.locks import RunInProgressError, run_lock
from matassets.paths import Layout
from matassets.training.graph_model import run_lock_path, train_graph_model

pytestmark = pytest.mark.slow  # real training processes


def test_lock_is_exclusive_names_the_holder_and_is_released(tmp_path):
    path = tmp_path / ".work" / "smoke.lock"
    with run_lock(path, "x [smoke]"):
        assert path.read_text().strip() == str(os.getpid())
        with pytest.raises(
            RunInProgressError, match=rf"another run of x \[smoke\] is in progress \(pid {os.getpid()}\)"
        ):
            with run_lock(path, "x [smoke]"):
                pass  # pragma: no cover
        errors: list[Exception] = []

        def other_thread() -> None:
            try:
                with run_lock(path, "x [smoke]"):
                    pass  # pragma: no cover
            except RunInProgressError as exc:
                errors.append(exc)

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert len(errors) == 1  # a second thread of the same process is refused too
        with run_lock(tmp_path / ".work" / "lite.lock", "x [lite]"):
            pass  # another partition's lock is independent
    with run_lock(path, "x [smoke]"):  # released on exit
        pass


def test_same_partition_is_refused_other_partition_runs_alongside(smoke_root, tmp_path):
    root = copy_data(smoke_root, tmp_path / "project", ("smoke", "lite"))
    layout = Layout(root)
    first = Child(root, "--epochs", "6", "--batch-sleep", "0.2")  # >= 7 s of epochs
    try:
        first.wait_for("locked at")
        # the same asset partition, from this process: refused at once, nothing touched
        work = layout.model_dir(ASSET, "smoke").parent / ".work" / "smoke"
        t0 = time.monotonic()
        with pytest.raises(RunInProgressError) as info:
            train_graph_model(layout, spec("smoke", 1), log=lambda m: None)
        assert time.monotonic() - t0 < 5
        assert str(info.value).startswith(
            f"another run of {ASSET} [smoke] is in progress (pid {first.proc.pid})"
        )
        assert run_lock_path(layout, spec("smoke", 1)) == work.with_suffix(".lock")
        # another partition of the same asset trains meanwhile
        lite_start = time.time()
        lite = train_graph_model(layout, spec("lite", 1), log=lambda m: None)
        lite_end = time.time()
        assert lite.model_dir == layout.model_dir(ASSET, "lite")
        assert (lite.model_dir / "model.pt").exists()
        assert first.finish() == 0, first.output
    finally:
        first.kill()
    result = first.result()
    assert result["started"] < lite_end and result["finished"] > lite_start  # they overlapped
    assert result["epochs_run"] == 6
    assert (Path(result["model_dir"]) / "model.pt").exists()
    with run_lock(run_lock_path(layout, spec("smoke", 1)), "x"):  # released when the run ended
        pass


def test_model_assets_share_a_concurrency_pool():
    """Every asset that trains a model (CGCNN, e3nn multitask and specialists, MACE, TopoGNN, the
    random forest) declares the one Dagster concurrency pool "training", which an operator can cap
    (e.g. one training at a time on a small machine); the file lock guards each partition
    regardless of any pool limit."""
    from conftest import trained_models

    from matassets.definitions import defs

    graph = defs.resolve_asset_graph()
    models = trained_models()
    assert {"cgcnn_band_gap", "multitask_e3nn", "specialist_band_gap", "mace_potential"} < models
    assert {"topo_classifier_gnn", "topo_classifier_rf"} < models
    pools = {name: graph.get(dg.AssetKey(name)).pools for name in models}
    assert all(pool == {"training"} for pool in pools.values()), pools
