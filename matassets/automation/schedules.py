"""Schedules: retrain ``std`` every week, check every asset at ``smoke`` every night.

Both are off until someone turns them on in the UI (Dagster's default); docs/automation.md.
Times are UTC unless ``MATASSETS_SCHEDULE_TZ`` names another zone.
"""

import datetime as dt
import os

import dagster as dg

from matassets.jobs import nightly_smoke_job, runtime_tags, std_retrain_job

TIMEZONE = os.environ.get("MATASSETS_SCHEDULE_TZ", "UTC")


def _day(context: dg.ScheduleEvaluationContext) -> str:
    return f"{context.scheduled_execution_time or dt.datetime.now(dt.UTC):%Y%m%d}"


@dg.schedule(
    cron_schedule="0 3 * * 0",
    job=std_retrain_job,
    execution_timezone=TIMEZONE,
    description="Sundays 03:00: rebuild std's validated data, splits and graphs from the current "
    "raw_structures [std] and retrain every std model (raw_structures itself is left as it is).",
)
def weekly_std_retrain(context: dg.ScheduleEvaluationContext):
    return dg.RunRequest(
        run_key=f"weekly-std-{_day(context)}",
        partition_key="std",
        tags=runtime_tags("std"),
    )


@dg.schedule(
    cron_schedule="30 1 * * *",
    job=nightly_smoke_job,
    execution_timezone=TIMEZONE,
    description="Nightly 01:30: every asset at smoke from the embedded data; a failure means "
    "something broke.",
)
def nightly_smoke(context: dg.ScheduleEvaluationContext):
    return dg.RunRequest(
        run_key=f"nightly-smoke-{_day(context)}",
        partition_key="smoke",
        tags=runtime_tags("smoke"),
    )


SCHEDULES = [weekly_std_retrain, nightly_smoke]
