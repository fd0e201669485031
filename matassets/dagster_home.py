"""The Dagster instance of ``$DAGSTER_HOME``, opened by one process at a time.

Opening an instance whose SQLite storage does not exist yet creates its tables and stamps their
schema version. Two processes doing that at once (``matassets ui`` and ``matassets run`` started
together on a new home, a test watching a run it launched) can both stamp it: the schedule
database then holds two version rows and every later command on that home fails with alembic's
"Version table 'alembic_version' has more than one head present". So every matassets process
opens the instance under an exclusive ``flock`` on ``<home>/.matassets-open.lock``, held only
while the instance is constructed; the kernel drops it when its holder exits, however it exits.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".matassets-open.lock"


@contextmanager
def _opening(home: Path) -> Iterator[None]:
    import fcntl

    if not home.is_dir():  # Dagster refuses it below, in its own words
        yield
        return
    with open(home / LOCK_NAME, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # waits for another process that is opening it
        yield  # closing the file releases the lock


@contextmanager
def open_instance(home: Path | None = None):
    """The instance of ``home`` (default ``$DAGSTER_HOME``; with neither, an ephemeral one that
    keeps nothing), for the ``with`` block."""
    import dagster as dg

    if home is None and not os.environ.get("DAGSTER_HOME"):
        with dg.DagsterInstance.ephemeral() as instance:
            yield instance
        return
    with _opening(Path(home or os.environ["DAGSTER_HOME"])):
        instance = dg.DagsterInstance.from_config(str(home)) if home else dg.DagsterInstance.get()
    with instance:
        yield instance
