"""Runs whose process was killed (``kill -9``, out of memory, a power cut) are marked failed.

Dagster's run monitoring (``run_monitoring`` in ``dagster.yaml``, enabled in every instance file of
this project) fails runs stuck in STARTING or CANCELING and runs past their ``dagster/max_runtime``;
it detects a dead run worker only for launchers that can check one (Kubernetes, Docker, ECS). The
default launcher of a one-machine instance cannot, so a run whose process died stayed STARTED for
ever: its partition looked busy, and a data run of its level was refused as "in progress".

``fail_dead_runs(instance)`` looks at every STARTED run of a one-machine instance (SQLite storage,
default launcher: every run is a process of this machine): the processes its engine events
recorded (the run worker, the steps' subprocesses, the process of an in-process run) that are all
gone mean the run is dead, and it is marked failed with the pids in the message. A run whose
process is alive, or that recorded none yet, is left alone. ``matassets ui`` calls it when it
starts, and so does every CLI launch (``matassets run``, ``data``, ``materialize``:
:func:`fail_dead_runs_of_home`); the data-run claim of a level (``assets.data.run_status``) does not
wait for such a run.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from matassets.dagster_home import open_instance


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recorded_pids(instance: dg.DagsterInstance, run_id: str) -> list[int]:
    """The process ids a run's engine events name (``pid`` metadata), in order, without repeats."""
    pids: list[int] = []
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        data = getattr(event, "event_specific_data", None) if event else None
        value = (getattr(data, "metadata", None) or {}).get("pid")
        text = getattr(value, "value", value)
        if isinstance(text, str) and text.isdigit() and int(text) not in pids:
            pids.append(int(text))
    return pids


def is_one_machine(instance: dg.DagsterInstance) -> bool:
    """SQLite run storage and the default launcher: every run is a process of this machine."""
    from dagster._core.launcher.default_run_launcher import DefaultRunLauncher
    from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage

    return isinstance(instance.run_storage, SqliteRunStorage) and isinstance(
        instance.run_launcher, DefaultRunLauncher
    )


def processes_alive(instance: dg.DagsterInstance, run_id: str) -> bool:
    """False only when the run's recorded processes are known to be all gone (a one-machine
    instance); True when any lives, or when that cannot be told."""
    if not is_one_machine(instance):
        return True
    pids = recorded_pids(instance, run_id)
    return not pids or any(_alive(p) for p in pids)


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every STARTED run whose recorded processes are all gone; their run ids."""
    if not is_one_machine(instance):
        return []
    failed = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        run = record.dagster_run
        if processes_alive(instance, run.run_id):
            continue
        pids = recorded_pids(instance, run.run_id)
        instance.report_run_failed(
            run,
            f"the run's process{'es' if len(pids) > 1 else ''} (pid {', '.join(map(str, pids))}) "
            "ended without finishing the run (killed or crashed); marked failed by matassets",
        )
        failed.append(run.run_id)
    return failed


def fail_dead_runs_of_home() -> list[str]:
    """:func:`fail_dead_runs` on the instance of ``$DAGSTER_HOME``, where a CLI run is recorded; with
    none set, runs are ephemeral and no earlier run is kept; a folder not made yet holds none either
    (the run about to start creates it). One query when no run is STARTED."""
    home = os.environ.get("DAGSTER_HOME")
    if not home or not Path(home).is_dir():
        return []
    with open_instance() as instance:
        return fail_dead_runs(instance)
