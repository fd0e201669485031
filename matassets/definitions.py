"""The one Dagster code location: assets, checks, jobs, schedules, sensors and resources."""

import dagster as dg

from matassets.assets.catalog import all_assets
from matassets.assets.resources import ProjectResource
from matassets.automation.schedules import SCHEDULES
from matassets.automation.sensors import SENSORS
from matassets.automation.tuning_runs import tuning_job
from matassets.deploy.executor import matassets_executor
from matassets.jobs import ASSET_JOBS


def build_defs() -> dg.Definitions:
    """The code location as the registry is now (a data set registered since import is in it)."""
    return dg.Definitions(
        assets=all_assets(),
        jobs=[*ASSET_JOBS, tuning_job],
        schedules=SCHEDULES,
        sensors=SENSORS,
        resources={"project": ProjectResource()},
        # multiprocess (default), in_process or celery per run; $MATASSETS_EXECUTOR for runs that say
        # nothing (docs/deploy.md)
        executor=matassets_executor,
    )


defs = build_defs()
