"""Processes that open a new DAGSTER_HOME at the same moment leave it usable.

Seen in CI: a test opened the instance while the ``matassets data`` run it had launched opened it
too; both created the SQLite tables and stamped their version, and the run died with alembic's
"Version table 'alembic_version' has more than one head present" — as would every later command
on that home. Here several real processes import Dagster, wait at a barrier, and open the same
new home together through :func:`matassets.dagster_home.open_instance`.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from matassets.dagster_home import open_instance

PROCESSES = 4
OPEN_AT_THE_BARRIER = """
import sys, time
from pathlib import Path
import dagster  # the slow import, before the barrier
from matassets.dagster_home import open_instance
home, me = Path(sys.argv[1]), sys.argv[2]
(home.parent / f"ready-{me}").touch()
while not (home.parent / "go").exists():
    time.sleep(0.001)
with open_instance(home) as instance:
    instance.get_runs_count()
"""


def version_rows(home: Path) -> dict[str, int]:
    """The number of schema-version rows in each SQLite database of ``home``."""
    rows = {}
    for db in sorted(home.rglob("*.db")):
        with sqlite3.connect(db) as con:
            tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
            if "alembic_version" in tables:
                rows[db.relative_to(home).as_posix()] = con.execute(
                    "select count(*) from alembic_version"
                ).fetchone()[0]
    return rows


@pytest.mark.slow  # four Python processes that import Dagster (about 15 s on 2 cores)
def test_processes_opening_a_new_home_at_once_leave_it_usable(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AT_THE_BARRIER, str(home), str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("ready-*"))) < PROCESSES:
            assert all(p.poll() is None for p in procs), [p.communicate()[0] for p in procs]
            assert time.monotonic() < deadline, "the processes did not import Dagster within 120 s"
            time.sleep(0.05)
        (tmp_path / "go").touch()
        outputs = [p.communicate(timeout=120)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0] * PROCESSES, "\n".join(outputs)[-3000:]
    rows = version_rows(home)
    assert rows and set(rows.values()) == {1}, rows
    with open_instance(home) as instance:  # and the next command can open it
        assert instance.get_runs_count() == 0


def test_a_home_the_race_already_damaged_is_refused_naming_the_file(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with open_instance(home):
        pass
    schedules = home / "schedules" / "schedules.db"
    with sqlite3.connect(schedules) as con:  # what the race left in CI: the head and an older one
        con.execute("insert into alembic_version values ('5771160a95ad')")
    with pytest.raises(RuntimeError, match="holds two schema versions") as refused:
        with open_instance(home):
            pass
    assert str(schedules) in str(refused.value)
