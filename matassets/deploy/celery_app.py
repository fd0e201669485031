"""The Celery app of a matassets worker: ``celery -A matassets.deploy.celery_app worker``.

It is dagster-celery's app and step task (``execute_plan``: one step of a run, loaded from the
code location and run against the run's instance) with the broker, result backend and worker
settings that the run side uses too (``executor.celery_executor``), so both sides agree by
construction. ``matassets cluster worker`` starts it; a worker on another host needs the same
code, the same ``MATASSETS_ROOT`` (a shared filesystem) and the same environment variables.

Only small things cross the broker: the step's key, the run id, the instance reference and, back,
the step's Dagster events. Data and models are files under ``MATASSETS_ROOT`` that the steps
read and write themselves.
"""

from __future__ import annotations

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from matassets.deploy.executor import WORKER_INCLUDE, celery_executor

app = make_app(celery_executor({"include": WORKER_INCLUDE}).app_args())
execute_plan = create_task(app)
