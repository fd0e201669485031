"""A run killed with ``kill -9`` does not stay STARTED: the next start marks it failed.

``matassets data --level smoke`` runs in a real process against a temporary DAGSTER_HOME (the
project's instance file: run monitoring on), and is killed with SIGKILL once its run has started.
Dagster leaves the run STARTED (its own run monitoring cannot check a default-launcher worker).
``fail_dead_runs`` — what ``matassets ui`` calls when it starts — leaves it alone while its process
lives, and marks it failed, naming the pid, once the process is gone. Its claim on the level's data
holds while it lives and not after (another data run need not wait for the UI to restart). The next
``matassets materialize`` (``run`` and ``data`` launch the same way) marks it failed before it starts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from matassets.assets.data import run_status
from matassets.automation.dead_runs import fail_dead_runs, recorded_pids
from matassets.dagster_home import open_instance
from matassets.locks import RunInProgressError, claim_level
from matassets.paths import Layout

REPO = Path(__file__).resolve().parents[2]
MATASSETS = Path(sys.executable).with_name("matassets")
pytestmark = pytest.mark.slow  # a real run in a subprocess


def instance_yaml() -> str:
    """The instance file ``make install`` writes (the Makefile's recipe)."""
    text = (REPO / "Makefile").read_text()
    line = next(x for x in text.splitlines() if x.strip().startswith("printf") and "telemetry" in x)
    body = line.split("printf '", 1)[1].rsplit("'", 1)[0]
    return body.encode().decode("unicode_escape")


@contextlib.contextmanager
def a_killed_data_run(tmp_path):
    """``matassets data --level smoke`` killed with SIGKILL once its run has started and claimed the
    level: ``(instance, env, run_id, pid)``, the run left STARTED."""
    home, root = tmp_path / "home", tmp_path / "root"
    home.mkdir()
    root.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml())
    lock = Layout(root).data_run_lock("smoke")
    env = {**os.environ, "DAGSTER_HOME": str(home), "MATASSETS_ROOT": str(root), "MATASSETS_THREADS": "1"}
    log = tmp_path / "run.log"  # what the run said, for a failure message
    out = log.open("w")
    proc = subprocess.Popen(
        [str(MATASSETS), "data", "--level", "smoke"],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with open_instance(home) as instance:  # opened as the run opens it: one at a time
            assert instance.run_monitoring_enabled  # the project's instance file enables it
            deadline = time.monotonic() + 180
            while True:
                runs = instance.get_runs()
                started = runs and runs[0].status == dg.DagsterRunStatus.STARTED
                claimed = started and lock.is_file() and runs[0].run_id in lock.read_text()
                if claimed and recorded_pids(instance, runs[0].run_id):
                    break
                assert proc.poll() is None, (
                    f"the run ended before it could be killed:\n{log.read_text()[-3000:]}"
                )
                assert time.monotonic() < deadline, "no STARTED run within 180 s"
                time.sleep(0.5)
            run_id = runs[0].run_id
            assert recorded_pids(instance, run_id) == [proc.pid]
            assert fail_dead_runs(instance) == []  # alive: left alone
            with pytest.raises(RunInProgressError, match=run_id):  # it holds its level's data
                claim_level(lock, "smoke", "another-run", run_status(instance))
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            time.sleep(1)
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED  # the defect
            yield instance, env, run_id, proc.pid
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        out.close()


def failed_for(instance, run_id: str, pid: int) -> bool:
    """The run is FAILURE, with matassets' message naming its pid."""
    messages = [e.message for e in instance.all_logs(run_id) if e.dagster_event]
    return instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE and any(
        f"(pid {pid}) ended without finishing the run" in m for m in messages
    )


def cli_raw_structures(env: dict) -> subprocess.CompletedProcess:
    """``matassets materialize --asset raw_structures --level smoke`` in a process of its own."""
    cmd = [str(MATASSETS), "materialize", "--asset", "raw_structures", "--level", "smoke"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def test_a_killed_run_is_marked_failed_at_the_next_start(tmp_path):
    with a_killed_data_run(tmp_path) as (instance, _env, run_id, pid):
        lock = Layout(tmp_path / "root").data_run_lock("smoke")
        claim_level(lock, "smoke", "another-run", run_status(instance))  # a dead run holds nothing
        assert fail_dead_runs(instance) == [run_id]
        assert failed_for(instance, run_id, pid)
        assert fail_dead_runs(instance) == []  # once


def test_the_next_cli_run_marks_a_killed_run_failed(tmp_path):
    with a_killed_data_run(tmp_path) as (instance, env, run_id, pid):
        done = cli_raw_structures(env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"run {run_id}: its process is gone; marked failed" in done.stdout
        assert failed_for(instance, run_id, pid)
        (latest, *_) = instance.get_runs()
        assert latest.run_id != run_id and latest.status == dg.DagsterRunStatus.SUCCESS


def test_a_cli_run_into_a_dagster_home_not_made_yet_creates_it_and_records_the_run(tmp_path):
    home = tmp_path / "new-home"  # a user's export DAGSTER_HOME=... before the folder exists
    env = os.environ | {"DAGSTER_HOME": str(home), "MATASSETS_ROOT": str(tmp_path / "root")}
    done = cli_raw_structures(env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "enabled: false" in (home / "dagster.yaml").read_text()  # telemetry off from the start
    with open_instance(home) as instance:
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS
