"""The Dagster instance of ``$DAGSTER_HOME``, opened by one process at a time.

Opening an instance whose SQLite storage does not exist yet creates its tables and stamps their
schema version. Two processes doing that at once (``matassets ui`` and ``matassets run`` started
together on a new home, a test watching a run it launched) can both stamp it: the schedule
database then holds two version rows and every later command on that home fails with alembic's
"Version table 'alembic_version' has more than one head present". So every matassets process
opens the instance under an exclusive ``flock`` on ``<home>/.matassets-open.lock``, held only
while the instance is constructed; the kernel drops it when its holder exits, however it exits.
A home that the race has already damaged (before this lock) is refused with the files named and
what to do, in place of alembic's message.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = ".matassets-open.lock"
STAMPED_TWICE = "more than one head present"  # alembic's words for a doubled version table


def stamped_twice(home: Path) -> list[Path]:
    """The SQLite databases of ``home`` whose version table holds more than one revision."""
    import sqlite3

    found = []
    for db in sorted(home.rglob("*.db")):
        with contextlib.closing(sqlite3.connect(db)) as con:
            try:
                if con.execute("select count(*) from alembic_version").fetchone()[0] > 1:
                    found.append(db)
            except sqlite3.OperationalError:  # no version table
                continue
    return found


@contextlib.contextmanager
def _opening(home: Path) -> Iterator[None]:
    import fcntl

    if not home.is_dir():  # Dagster refuses it below, in its own words
        yield
        return
    with open(home / LOCK_NAME, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # waits for another process that is opening it
        yield  # closing the file releases the lock


@contextlib.contextmanager
def open_instance(home: Path | None = None):
    """The instance of ``home`` (default ``$DAGSTER_HOME``; with neither, an ephemeral one that
    keeps nothing), for the ``with`` block."""
    import dagster as dg

    if home is None and not os.environ.get("DAGSTER_HOME"):
        with dg.DagsterInstance.ephemeral() as instance:
            yield instance
        return
    path = Path(home or os.environ["DAGSTER_HOME"])
    with _opening(path):
        try:
            instance = dg.DagsterInstance.from_config(str(home)) if home else dg.DagsterInstance.get()
        except Exception as error:
            if STAMPED_TWICE not in str(error) or not (damaged := stamped_twice(path)):
                raise
            folders = ", ".join(sorted({str(d.parent) for d in damaged}))
            raise RuntimeError(
                f"DAGSTER_HOME {path}: {', '.join(map(str, damaged))} holds two schema versions: two "
                "processes created it at the same moment (before matassets opened a home one process "
                f"at a time), and Dagster cannot open it. Move {folders} "
                "aside (keep it: it holds the run history) and run again; a new one is created."
            ) from error
    with instance:
        yield instance
