"""``matassets cluster init`` on a new PostgreSQL database, then processes opening it at once, live.

A new database's first opening creates Dagster's tables. dagster-postgres 0.29.27 retries a process
that loses the race to create the run tables, but not one that loses the race to create
``instance_info`` a moment later: with four processes opening a new database at once, about one
try in four had one of them exit with ``UniqueViolation … instance_info`` (the project's CI,
then reproduced by hand, 2026-12-04). So the deployment does not rely on that
race: ``cluster init`` (and ``cluster up``, which calls it) opens the instance once, alone, before
any daemon, UI or worker starts, and docs/deploy.md says to run it first. This checks that ``init``
leaves every table in place and one schema version, so that processes opening the database
afterwards, all at once, take no creation path and all succeed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid

import pytest

pytestmark = pytest.mark.slow
PROCESSES = 4

OPEN = textwrap.dedent(
    """
    import pathlib, sys, time
    import dagster as dg
    go = pathlib.Path(sys.argv[2])
    pathlib.Path(sys.argv[3]).touch()  # dagster is imported
    while not go.exists():
        time.sleep(0.01)
    instance = dg.DagsterInstance.from_config(sys.argv[1])
    print(type(instance.run_storage).__name__, instance.get_runs_count())
    """
)


def tables_and_versions(pg) -> tuple[set[str], int]:
    conn = pg.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
            tables = {row[0] for row in cur.fetchall()}
            versions = 0
            if "alembic_version" in tables:
                cur.execute("SELECT count(*) FROM alembic_version")
                versions = cur.fetchone()[0]
            return tables, versions
    finally:
        conn.close()


def test_init_creates_the_instance_once_and_processes_then_open_it_at_once(services, tmp_path, monkeypatch):
    from matassets.cli.cluster import init
    from matassets.deploy.services import Postgres

    db_name = f"matassets_test_{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("DAGSTER_PG_DB", db_name)
    pg = Postgres.from_env()
    assert pg.db_name == db_name
    try:
        home = tmp_path / "home"
        init(home, training_slots=1)
        tables, versions = tables_and_versions(pg)
        # run, event-log and schedule storage: a process opening it now creates nothing
        assert {"runs", "instance_info", "event_logs", "jobs", "alembic_version"} <= tables
        assert versions == 1
        go = tmp_path / "go"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", OPEN, str(home), str(go), str(tmp_path / f"ready{i}")],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={"DAGSTER_DISABLE_TELEMETRY": "1", "PATH": "/usr/bin:/bin"},
            )
            for i in range(PROCESSES)
        ]
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("ready*"))) < PROCESSES and time.monotonic() < deadline:
            time.sleep(0.1)
        go.touch()  # every process waits for it with dagster imported: they open the instance at once
        results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
        assert [(rc, out.strip()) for rc, out, _ in results] == [(0, "PostgresRunStorage 0")] * PROCESSES, [
            err[-1500:] for _, _, err in results
        ]
        assert tables_and_versions(pg) == (tables, 1)
    finally:
        pg.drop_database(pg.db_name)
