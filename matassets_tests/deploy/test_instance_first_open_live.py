"""A new PostgreSQL instance opened by several processes at once, live.

``matassets cluster up`` creates the instance's tables itself before it starts the webserver, the
daemon and the workers (``cluster.init``); a user who starts ``dagster-daemon`` and the webserver by
hand on a new database has them race to create the tables. On SQLite that race doubled the schema
version (``matassets.dagster_home``); on PostgreSQL, dagster-postgres creates the tables and stamps
the version in one transaction and retries the loser. This checks that, as the deployment relies on
it: every process opens the instance and the database holds one schema version.
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


def test_processes_opening_a_new_postgres_instance_at_once_create_it_once(services, tmp_path):
    from matassets.deploy.instance import write_instance_yaml
    from matassets.deploy.services import Postgres

    pg = Postgres.from_env(f"matassets_test_{uuid.uuid4().hex[:12]}")
    pg.create_database()
    try:
        home = tmp_path / "home"
        write_instance_yaml(home, pg, training_slots=1)
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
        conn = pg.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM alembic_version")
                assert cur.fetchone()[0] == 1
                cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'runs'")
                assert cur.fetchone()[0] == 1
        finally:
            conn.close()
    finally:
        pg.drop_database(pg.db_name)
