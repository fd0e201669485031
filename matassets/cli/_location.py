"""A CLI run recorded as a run of the code location the UI serves, and executed in this process.

``JobDefinition.execute_in_process`` records a run without a code-location origin
(``remote_job_origin`` None): the UI's *Runs* page lists it, but the *Overview* timeline, which
draws a row per job of each code location, leaves it out (issue #21: "No runs" after a dozen CLI
runs). Here the run is created in the instance with the origin of the location ``matassets ui``
serves (``matassets.ui.server.location_target``: ``workspace.yaml``, which names it ``matassets``;
building the origin starts nothing), then executed here by Dagster's ``execute_run`` with the
job ``execute_in_process`` would run: in-process executor, in-memory values between steps, the
partition's run tags.
"""

from __future__ import annotations


def job_origin(job_name: str):
    """The origin a run of ``job_name`` launched from the UI carries."""
    from dagster._core.definitions.repository_definition import SINGLETON_REPOSITORY_NAME
    from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin

    from matassets.ui.server import location_target

    (location,) = location_target().create_origins()
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, SINGLETON_REPOSITORY_NAME), job_name)


def execute(
    job, selection: list[str], partition_key: str | None, run_config: dict, tags: dict, instance, console
):
    """Run ``selection`` of ``job`` for one partition in this process, logging to the ``console``
    logger definition; the run is recorded in ``instance`` with the code location's origin.
    Returns Dagster's ``JobExecutionResult``."""
    import dagster as dg
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.execution.api import execute_run
    from dagster._core.execution.execute_in_process import merge_run_tags

    keys = [dg.AssetKey.from_user_string(a) for a in selection]
    local = job.as_ephemeral_job(resource_defs={}, input_values={}).with_logger_defs({"console": console})
    run = instance.create_run_for_job(
        job_def=local,
        run_config=run_config,
        tags={**local.run_tags, **merge_run_tags(job, partition_key, tags, keys, instance, run_config)},
        asset_selection=frozenset(keys),
        remote_job_origin=job_origin(job.name),
    )
    return execute_run(InMemoryJob(local), run, instance)
