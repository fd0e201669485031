"""The cluster pieces that need no service: the instance file ``matassets cluster init`` writes, the
one-line error for a server that is not there, the executor choice, the processes of ``make
cluster`` (test_cluster_live.py runs them against real PostgreSQL and RabbitMQ)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml


def free_port() -> int:
    """A local port nothing listens on (bound and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_init_writes_a_postgres_instance_that_references_the_password(tmp_path, monkeypatch):
    from dagster._core.instance.config import dagster_instance_config

    from matassets.deploy.instance import write_instance_yaml
    from matassets.deploy.services import Postgres

    monkeypatch.setenv("DAGSTER_PG_HOST", "db.example.org")
    monkeypatch.setenv("DAGSTER_PG_PORT", "5433")
    monkeypatch.setenv("DAGSTER_PG_USERNAME", "dagster")
    monkeypatch.setenv("DAGSTER_PG_DB", "matassets_prod")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "s3cret-do-not-write")
    pg = Postgres.from_env()
    assert "s3cret" not in repr(pg)  # the password is a Secret
    path = write_instance_yaml(tmp_path, pg, training_slots=3)
    text = path.read_text()
    assert "s3cret" not in text
    config = yaml.safe_load(text)
    db = config["storage"]["postgres"]["postgres_db"]
    assert db["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    assert (db["hostname"], db["port"], db["username"], db["db_name"]) == (
        "db.example.org",
        5433,
        "dagster",
        "matassets_prod",
    )
    assert db["scheme"] == "postgresql+psycopg2"  # SQLAlchemy 2.1 would otherwise want psycopg 3
    assert config["concurrency"]["pools"]["default_limit"] == 3
    validated, _ = dagster_instance_config(str(tmp_path))  # Dagster's own schema
    assert validated["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert set(validated["storage"]) == {"postgres"}

    monkeypatch.delenv("DAGSTER_PG_PASSWORD")  # trust or peer auth: no password field at all
    write_instance_yaml(tmp_path, Postgres.from_env(), training_slots=1)
    config = yaml.safe_load((tmp_path / "dagster.yaml").read_text())
    assert "password" not in config["storage"]["postgres"]["postgres_db"]
    assert config["concurrency"]["pools"]["default_limit"] == 1


def test_init_never_overwrites_a_dagster_yaml_it_did_not_write(tmp_path):
    from matassets.deploy.instance import write_instance_yaml
    from matassets.deploy.services import Postgres

    own = tmp_path / "dagster.yaml"
    own.write_text("telemetry:\n  enabled: false\n")
    with pytest.raises(FileExistsError, match="not written by `matassets cluster init`"):
        write_instance_yaml(tmp_path, Postgres())
    assert own.read_text() == "telemetry:\n  enabled: false\n"
    write_instance_yaml(tmp_path, Postgres(), force=True)
    write_instance_yaml(tmp_path, Postgres(), training_slots=4)  # its own file: rewritten
    assert yaml.safe_load(own.read_text())["concurrency"]["pools"]["default_limit"] == 4
    with pytest.raises(ValueError):
        write_instance_yaml(tmp_path, Postgres(), training_slots=0)


def test_a_server_that_is_not_there_is_one_line_naming_it(tmp_path, monkeypatch, capsys):
    from matassets.cli import main
    from matassets.deploy.services import (
        Postgres,
        ServiceUnavailable,
        check_backend,
        check_broker,
    )

    port = free_port()
    with pytest.raises(ServiceUnavailable) as pg_error:
        Postgres(port=port).check()
    with pytest.raises(ServiceUnavailable) as broker_error:
        check_broker(f"pyamqp://guest:hunter2@127.0.0.1:{port}//")
    with pytest.raises(ServiceUnavailable) as redis_error:
        check_backend(f"redis://127.0.0.1:{port}/0")
    for error, name in ((pg_error, "PostgreSQL"), (broker_error, "RabbitMQ"), (redis_error, "Redis")):
        message = str(error.value)
        assert message.startswith(f"{name} not reachable at 127.0.0.1:{port}: "), message
        assert "\n" not in message
    assert "hunter2" not in str(broker_error.value)

    monkeypatch.setenv("DAGSTER_PG_PORT", str(port))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    assert main(["cluster", "init"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: PostgreSQL not reachable at 127.0.0.1:{port}") and "\n" not in err
    assert not (tmp_path / "home" / "dagster.yaml").exists()  # nothing written for an absent server


def test_every_job_runs_in_process_multiprocess_or_on_celery_by_run_config(monkeypatch):
    from dagster._core.system_config.objects import ResolvedRunConfig

    from matassets.definitions import defs
    from matassets.deploy import executor

    modes = [{"multiprocess": {"max_concurrent": 2}}, {"in_process": {}}]
    if executor.dagster_celery_installed():
        modes.append({"celery": {}})
    for job in defs.resolve_all_job_defs():
        if job.name.startswith("__"):
            continue
        assert job.executor_def is executor.matassets_executor, job.name
        for mode in modes:
            ResolvedRunConfig.build(job, {"execution": {"config": mode}})  # raises when invalid

    monkeypatch.delenv(executor.EXECUTOR_ENV, raising=False)
    assert executor.default_mode() == "multiprocess"  # one machine, no services: Dagster's default
    monkeypatch.setenv(executor.EXECUTOR_ENV, "kubernetes")
    with pytest.raises(ValueError, match="MATASSETS_EXECUTOR"):
        executor.default_mode()


def test_run_and_worker_share_the_celery_settings_of_the_failure_policy(monkeypatch):
    from matassets.deploy import executor

    if not executor.dagster_celery_installed():
        pytest.skip("dagster-celery is not installed")
    monkeypatch.setenv("CELERY_BROKER_URL", "pyamqp://guest:guest@broker.example.org:5672//")
    monkeypatch.delenv("CELERY_RESULT_BACKEND", raising=False)
    run_side = executor.celery_executor({})
    assert run_side.broker == "pyamqp://guest:guest@broker.example.org:5672//"
    assert run_side.backend == "rpc://"
    assert run_side.include == ["matassets.definitions"]
    settings = run_side.config_source.__dict__
    assert settings["task_acks_late"] is True  # a lost worker's step goes to another worker
    assert settings["task_reject_on_worker_lost"] is False  # a killed step process fails its run
    assert settings["worker_prefetch_multiplier"] == 1
    # a run config may override one setting; the rest of the policy stays
    custom = executor.celery_executor({"config_source": {"worker_prefetch_multiplier": 2}})
    assert custom.config_source.__dict__["worker_prefetch_multiplier"] == 2
    assert custom.config_source.__dict__["task_acks_late"] is True

    # the worker's app is built from the same function, in a process with the same environment
    code = (
        "from matassets.deploy.celery_app import app; c = app.conf; "
        "print(c.broker_url, c.task_acks_late, c.task_reject_on_worker_lost, "
        "c.worker_prefetch_multiplier, 'execute_plan' in app.tasks)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [run_side.broker, "True", "False", "1", "True"]
    assert "version mismatch" not in out.stderr  # the 0.29.27/1.13.28 warning is silenced

    from matassets.cli.cluster import worker_argv

    argv = worker_argv(["training"], 1, "gpu1")
    assert argv[argv.index("-Q") + 1] == "training" and argv[argv.index("-n") + 1] == "gpu1@%h"
    assert argv[argv.index("--prefetch-multiplier") + 1] == "1"


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_cluster_down_stops_exactly_what_up_started(tmp_path):
    from matassets.deploy.processes import Processes, process_start_time

    procs = Processes(tmp_path / "state")
    # a recorded process with a child of its own (as a worker and its pool process)
    parent = "import subprocess, time; subprocess.Popen(['sleep', '120']); time.sleep(120)"
    worker = procs.start("worker1", [sys.executable, "-c", parent], dict(os.environ))
    stranger = subprocess.Popen(["sleep", "120"])  # not started by us: must survive
    try:
        deadline = time.monotonic() + 20
        while not children(worker.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        (grandchild,) = children(worker.pid)
        assert worker.alive() and procs.record("worker1") == worker
        with pytest.raises(RuntimeError, match="already running"):
            procs.start("worker1", ["sleep", "1"], dict(os.environ))

        # a pid file naming a pid that now belongs to someone else is never acted on
        impostor = tmp_path / "state" / "run" / "daemon.pid"
        started = process_start_time(stranger.pid) + 1
        impostor.write_text(
            json.dumps(
                {"name": "daemon", "pid": stranger.pid, "start_time": started, "argv": ["sleep"], "log": ""}
            )
        )
        assert procs.record("daemon").alive() is False

        outcomes = procs.stop_all(timeout=60)  # returns once stopped; 10 s was too short at load 9
        assert outcomes == [f"worker1: stopped (pid {worker.pid})", "daemon: not running"]
        assert process_start_time(worker.pid) is None
        assert process_start_time(grandchild) is None  # its whole process group
        assert stranger.poll() is None  # the stranger is untouched
        assert procs.records() == []
    finally:
        stranger.send_signal(signal.SIGKILL)
        stranger.wait()
        procs.stop_all(timeout=5)


def test_a_process_started_while_sigterm_is_ignored_still_stops_on_it(tmp_path):
    """A parent that ignores SIGTERM (the test suite's worker processes do) passes that on through
    fork and exec: the recorded process ignored `stop` until SIGKILL after the timeout. It is started
    with SIGTERM at its default, and the parent keeps ignoring it."""
    from matassets.deploy.processes import Processes

    procs = Processes(tmp_path / "state")
    before = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
        worker = procs.start("worker1", sleeper, dict(os.environ))
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN  # the parent's own choice kept
    finally:
        signal.signal(signal.SIGTERM, before)
    try:
        assert procs.stop_all(timeout=5) == [f"worker1: stopped (pid {worker.pid})"]
    finally:
        procs.stop_all(timeout=1)


def test_model_steps_go_to_the_training_queue_and_the_rest_to_the_default_one():
    from matassets.definitions import defs
    from matassets.deploy.executor import CELERY_QUEUE_TAG, DEFAULT_QUEUE, TRAINING_QUEUE

    queues = {}
    for node in defs.resolve_job_def("nightly_smoke_job").graph.node_defs:  # every asset's op
        queues[node.name] = (node.pools, node.tags.get(CELERY_QUEUE_TAG, DEFAULT_QUEUE))
    training = {name for name, (pools, _) in queues.items() if pools == {"training"}}
    assert {"cgcnn_formation_energy", "multitask_e3nn", "mace_potential", "topo_classifier_rf"} <= training
    for name, (_, queue) in queues.items():
        assert queue == (TRAINING_QUEUE if name in training else DEFAULT_QUEUE), name
