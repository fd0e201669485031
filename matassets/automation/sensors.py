"""Sensors: tuning rounds, new data in ``data/incoming/``, and retraining ``std`` on a new data version.

All are off until someone turns them on in the UI (Dagster's default); docs/automation.md.

- ``tuning_round_sensor`` / ``tuning_failure_sensor``: when a ``tuning_job`` run or a tuning round
  ends, record it and request the next round (or stop, write the summary and promote the best).
- ``incoming_data_sensor``: a new or changed file in ``data/incoming/`` → ``raw_structures`` [std]
  from those files (``source=files``).
- ``dataset_incoming_sensor``: new files in ``data/incoming/<data set>/`` → a new version of that
  registered data set (``datasets.append``) → that data set's assets only, ``std`` partition.
- ``std_data_change_sensor``: ``raw_structures`` [std] got a new data version (incoming files, a new
  JARVIS release materialized from the UI) → everything downstream of it, ``std`` partition.
"""

import hashlib
import json
from pathlib import Path

import dagster as dg

from matassets.assets.resources import ProjectResource
from matassets.automation.tuning_runs import advance_session, tuning_job
from matassets.jobs import (
    incoming_data_job,
    nightly_smoke_job,
    runtime_tags,
    std_retrain_job,
    tuning_rounds_job,
)

RETRAIN_PARTITION = "std"
DATA_VERSION_TAG = "dagster/data_version"
INPUT_POINTER_TAG = "dagster/input_event_pointer/raw_structures"
# names a copy in progress tends to have; drop files into data/incoming/ by moving them there
IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp")

# --- tuning ----------------------------------------------------------------------------------------


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[tuning_job, tuning_rounds_job],
    request_job=tuning_rounds_job,
    description="Adaptive tuning: launches round N+1 when round N succeeds (and round 1 when "
    "tuning_job has written a session); stops at the round limit or on convergence.",
)
def tuning_round_sensor(context: dg.RunStatusSensorContext, project: ProjectResource):
    return advance_session(context.instance, project, context.dagster_run, success=True)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.FAILURE,
    monitored_jobs=[tuning_rounds_job],
    request_job=tuning_rounds_job,
    description="Adaptive tuning: a failed round is recorded and retried with a lower learning "
    "rate (two failures in a row stop that model).",
)
def tuning_failure_sensor(context: dg.RunStatusSensorContext, project: ProjectResource):
    return advance_session(context.instance, project, context.dagster_run, success=False)


# --- new data ----------------------------------------------------------------------------------


def incoming_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and not p.name.endswith(IGNORED_SUFFIXES)
    )


def fingerprint(folder: Path, files: list[Path]) -> str:
    """Names, sizes and modification times of the files: changes when a file is added or replaced."""
    entries = [[str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:16]


def source_path(folder: Path, files: list[Path]) -> Path:
    """One CSV/JSON table on its own is read as a table; anything else as a folder of structures."""
    from matassets.data.user_files import STRUCTURE_SUFFIXES, TARGETS_FILES

    tables = [p for p in files if p.suffix.lower() in (".csv", ".json") and p.name not in TARGETS_FILES]
    structures = [p for p in files if p.suffix.lower() in STRUCTURE_SUFFIXES or p.name.startswith("POSCAR")]
    if len(tables) == 1 and not structures:
        return tables[0]
    return folder


@dg.sensor(
    job=incoming_data_job,
    minimum_interval_seconds=60,
    description="A new or changed file in data/incoming/ → raw_structures [std] from those files. "
    "Move complete files in (a name ending .tmp/.part is ignored).",
)
def incoming_data_sensor(context: dg.SensorEvaluationContext, project: ProjectResource):
    folder = project.layout.incoming()
    mine = dataset_folders(project)  # data/incoming/<data set>/ belongs to dataset_incoming_sensor
    files = [f for f in incoming_files(folder) if f.relative_to(folder).parts[0] not in mine]
    if not files:
        return dg.SkipReason(f"no files in {folder}")
    key = fingerprint(folder, files)
    if key == context.cursor:
        return dg.SkipReason(f"{len(files)} files in {folder}, unchanged since the last run")
    context.update_cursor(key)
    path = source_path(folder, files)
    return dg.RunRequest(
        run_key=f"incoming-{key}",
        partition_key=RETRAIN_PARTITION,
        run_config={"ops": {"raw_structures": {"config": {"source": "files", "path": str(path)}}}},
        tags={"matassets/incoming": key, **runtime_tags(RETRAIN_PARTITION)},
    )


def dataset_folders(project) -> set[str]:
    """Names of the registered user data sets (their folders under data/incoming/ are theirs)."""
    from matassets import datasets

    return {m.name for m in datasets.list_datasets(project.layout.root) if not m.builtin}


@dg.sensor(
    job=nightly_smoke_job,
    minimum_interval_seconds=60,
    description="New or changed files in data/incoming/<data set>/ → a new version of that data set "
    "(old ∪ new; an id already present with other values is refused, named in the log) → that data "
    "set's assets only, std partition.",
)
def dataset_incoming_sensor(context: dg.SensorEvaluationContext, project: ProjectResource):
    from matassets import datasets
    from matassets.assets.datasets import dataset_asset_keys

    cursor = json.loads(context.cursor) if context.cursor else {}
    requests, notes = [], []
    for name in sorted(dataset_folders(project)):
        folder = project.layout.incoming() / name
        files = incoming_files(folder)
        if not files:
            continue
        key = fingerprint(folder, files)
        if cursor.get(name) == key:
            continue
        cursor[name] = key  # refused files are not retried until they change
        try:
            before = datasets.get(name, project.layout.root).version
            manifest = datasets.append(name, source_path(folder, files), root=project.layout.root)
        except ValueError as exc:
            context.log.warning(f"data/incoming/{name}: not appended: {exc}")
            notes.append(f"{name}: refused")
            continue
        if manifest.version == before:
            notes.append(f"{name}: nothing new")
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"dataset-{name}-v{manifest.version}",
                partition_key=RETRAIN_PARTITION,
                asset_selection=dataset_asset_keys(name, project.layout.root),
                tags={"matassets/dataset": name, **runtime_tags(RETRAIN_PARTITION)},
            )
        )
    context.update_cursor(json.dumps(cursor, sort_keys=True))
    return requests or dg.SkipReason("; ".join(notes) or "no new files for any data set")


def _latest(instance: dg.DagsterInstance, asset: str, partition: str, storage_id: int | None = None):
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(asset),
            asset_partitions=[partition],
            storage_ids=[storage_id] if storage_id is not None else None,
        ),
        limit=1,
    ).records
    return records[0] if records else None


def _version(record) -> str | None:
    materialization = record.asset_materialization if record else None
    return (materialization.tags or {}).get(DATA_VERSION_TAG) if materialization else None


def raw_versions(instance: dg.DagsterInstance, partition: str) -> tuple[str | None, int, str | None]:
    """(latest data version of raw_structures, its event id, the version ``structures`` was built from)."""
    latest = _latest(instance, "raw_structures", partition)
    child = _latest(instance, "structures", partition)
    used = None
    if child is not None and child.asset_materialization is not None:
        pointer = (child.asset_materialization.tags or {}).get(INPUT_POINTER_TAG)
        if pointer:
            used = _version(_latest(instance, "raw_structures", partition, int(pointer)))
    return _version(latest), latest.storage_id if latest else 0, used


@dg.sensor(
    job=std_retrain_job,
    minimum_interval_seconds=60,
    description="raw_structures [std] has a data version that the std structures were not built "
    "from → rebuild and retrain everything downstream of it for std.",
)
def std_data_change_sensor(context: dg.SensorEvaluationContext):
    version, event, used = raw_versions(context.instance, RETRAIN_PARTITION)
    if version is None:
        return dg.SkipReason(f"raw_structures [{RETRAIN_PARTITION}] has no data version yet")
    if version == used:
        return dg.SkipReason(f"[{RETRAIN_PARTITION}] downstream is built from data version {version}")
    if version == context.cursor:
        return dg.SkipReason(f"retraining for data version {version} was already requested")
    context.update_cursor(version)
    return dg.RunRequest(
        run_key=f"std-data-{version}-{event}",
        partition_key=RETRAIN_PARTITION,
        tags={"matassets/data_version": version, **runtime_tags(RETRAIN_PARTITION)},
    )


SENSORS = [
    tuning_round_sensor,
    tuning_failure_sensor,
    incoming_data_sensor,
    dataset_incoming_sensor,
    std_data_change_sensor,
]
