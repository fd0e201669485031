"""Fixtures of the live cluster tests (test_cluster_live.py): the services, a fresh PostgreSQL
database per test, two Celery workers started the way ``make cluster`` starts them.

A service that does not answer skips the test with one line naming it and its address
("PostgreSQL not reachable at 127.0.0.1:5432"); nothing is mocked.
"""

from __future__ import annotations

import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest


def skip_unless_services(*, redis: bool = False) -> None:
    """Skip (one line) unless the cluster's libraries are installed and its services answer."""
    from matassets.deploy import executor, services

    if not executor.dagster_celery_installed():
        pytest.skip("dagster-celery is not installed")
    import importlib.util

    if importlib.util.find_spec("dagster_postgres") is None:
        pytest.skip("dagster-postgres is not installed")
    try:
        services.Postgres.from_env().check()
        services.check_broker()
        if redis:
            services.check_backend("redis://127.0.0.1:6379/0")
    except services.ServiceUnavailable as error:
        pytest.skip(str(error).split(": ")[0])


@pytest.fixture
def services() -> None:
    """Skips the test (one line) unless the cluster's services answer."""
    skip_unless_services()


@dataclass
class LiveInstance:
    """A Dagster instance on a database of its own."""

    home: Path
    db_name: str
    pg: object  # services.Postgres
    instance: object  # dagster.DagsterInstance

    def sql(self, query: str, *params) -> list[tuple]:
        conn = self.pg.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall()
        finally:
            conn.close()


@pytest.fixture
def make_instance(tmp_path):
    """``make_instance(training_slots)``: a fresh, uniquely named database with the instance of
    ``matassets cluster init`` on it; the database is dropped after the test."""
    import dagster as dg

    from matassets.deploy.instance import write_instance_yaml
    from matassets.deploy.services import Postgres

    made: list[LiveInstance] = []

    def make(training_slots: int = 1) -> LiveInstance:
        db_name = f"matassets_test_{uuid.uuid4().hex[:12]}"
        pg = Postgres.from_env(db_name)
        pg.create_database()
        home = tmp_path / f"home-{len(made)}"
        write_instance_yaml(home, pg, training_slots)
        live = LiveInstance(home, db_name, pg, dg.DagsterInstance.from_config(str(home)))
        made.append(live)
        return live

    yield make
    for live in made:
        live.instance.dispose()
        live.pg.drop_database(live.db_name)


@dataclass
class Workers:
    names: list[str]
    procs: object  # deploy.processes.Processes
    root: Path  # their MATASSETS_ROOT (runs that name no root in their config use it)
    env: dict

    def pid(self, name: str) -> int:
        return self.procs.record(name).pid

    def alive(self) -> list[str]:
        return [n for n in self.names if self.procs.record(n).alive()]


def cluster_env(root: Path) -> dict:
    from matassets.deploy import VERSION_WARNING

    return {
        **os.environ,
        "MATASSETS_ROOT": str(root),
        "MATASSETS_THREADS": "1",  # the same arithmetic as the in-process reference run
        "MATASSETS_EXECUTOR": "celery",
        "PYTHONWARNINGS": f"ignore:{VERSION_WARNING}:UserWarning",
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "DVC_NO_ANALYTICS": "1",
    }


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    """Two Celery workers (``matassets cluster worker``, as ``make cluster`` starts them) on the
    queues ``dagster`` and ``training``, one step at a time each; stopped after the module."""
    skip_unless_services()
    from matassets.cli.cluster import wait_for_workers
    from matassets.deploy.processes import Processes

    base = tmp_path_factory.mktemp("workers")
    root = base / "root"
    root.mkdir()
    procs = Processes(base / "state")
    env = cluster_env(root)
    names = [f"live{os.getpid()}x{i}" for i in (1, 2)]
    for name in names:
        procs.start(name, [sys.executable, "-m", "matassets.cli", "cluster", "worker", "--name", name], env)
    try:
        ready = wait_for_workers(names, timeout=240)
        logs = {n: Path(procs.record(n).log).read_text(errors="replace")[-2000:] for n in names}
        assert ready == sorted(names), f"workers did not come up: {logs}"
        yield Workers(names, procs, root, env)
    finally:
        for name in names:
            procs.stop(name, timeout=20)
