"""The executor of every job: in-process, multiprocess or Celery, chosen per run.

``Definitions(executor=matassets_executor)`` gives each job Dagster's usual choice between
``multiprocess`` and ``in_process`` plus a third, ``celery`` (dagster-celery installed): each step
becomes a Celery task that a worker (``matassets cluster worker``) runs. A run picks one in its run
config (``execution: {config: {celery: {}}}``; ``deploy/dagster/celery_executor.yaml``); a run that
says nothing (a sensor's, a schedule's, the launchpad's default) gets ``$MATASSETS_EXECUTOR`` of the
process that loads the code location, ``multiprocess`` when it is unset. ``make cluster`` sets it to
``celery`` for the webserver, the daemon and the workers.

Celery settings come from the environment of the run process and of the workers alike
(``services.broker_url``/``result_backend``), so no URL, and no password in one, is stored in a run's
config or shown in the UI; ``broker``/``backend`` in the run config override them.

Worker settings (``WORKER_SETTINGS``), the failure policy of docs/deploy.md:
- ``task_acks_late``: a step's message is acknowledged when the step ends. A worker that dies as
  a whole (its machine, ``kill -9`` of the worker) leaves the message unacknowledged, and the broker
  gives the step to another worker listening on its queue: the step runs again there, resuming from
  its last checkpoint. (RabbitMQ closes a consumer that holds a message past ``consumer_timeout``,
  30 min by default: raise it above the longest step, docs/deploy.md.)
- ``task_reject_on_worker_lost`` off: if only the process running the step dies (the kernel's OOM
  killer, ``kill -9`` of that process), the worker acknowledges the message and reports
  ``WorkerLostError`` for that step; the run fails naming the step, and a re-execution from failure
  runs it again. A step that kills its process every time thus cannot loop through the workers.
- ``worker_prefetch_multiplier`` 1: a busy worker holds no second step that an idle worker could run.

Queues: a step runs on the queue of its ``dagster-celery/queue`` tag, ``dagster`` by default; the
model assets (pool ``training``) carry ``training``, so GPU hosts can listen on ``training`` alone.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping

import dagster as dg
from dagster._core.execution.retries import get_retries_config

EXECUTOR_ENV = "MATASSETS_EXECUTOR"
MODES = ("multiprocess", "in_process", "celery")
DEFAULT_QUEUE = "dagster"
TRAINING_QUEUE = "training"
CELERY_QUEUE_TAG = "dagster-celery/queue"  # dagster_celery.tags.DAGSTER_CELERY_QUEUE_TAG
# the modules a worker imports before it takes a step (so every step does not import them again)
WORKER_INCLUDE = ["matassets.definitions"]
WORKER_SETTINGS: dict[str, object] = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": False,
    "worker_prefetch_multiplier": 1,
    "task_default_queue": DEFAULT_QUEUE,
    "broker_connection_retry_on_startup": True,
}

_BASE = dg.multi_or_in_process_executor


def dagster_celery_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("dagster_celery") is not None


def import_dagster_celery():
    """``dagster_celery.executor``, without its warning about the version skew (``matassets.deploy``)."""
    from matassets.deploy import VERSION_WARNING

    with warnings.catch_warnings():  # pytest, for one, resets the process-wide filter per test
        warnings.filterwarnings("ignore", message=VERSION_WARNING, category=UserWarning)
        import dagster_celery.executor

    return dagster_celery.executor


CELERY_SCHEMA = dg.Field(
    {
        "broker": dg.Field(dg.StringSource, is_required=False, description="default: $CELERY_BROKER_URL"),
        "backend": dg.Field(
            dg.StringSource, is_required=False, description="default: $CELERY_RESULT_BACKEND"
        ),
        "include": dg.Field([str], is_required=False, default_value=WORKER_INCLUDE),
        "config_source": dg.Field(
            dg.Permissive(),
            is_required=False,
            default_value={},
            description="Celery settings over matassets' WORKER_SETTINGS",
        ),
        "retries": get_retries_config(),
    },
    description="Each step a Celery task on a worker (matassets cluster worker); docs/deploy.md",
)


def default_mode() -> str:
    mode = os.environ.get(EXECUTOR_ENV, "").strip() or "multiprocess"
    if mode not in MODES:
        raise ValueError(f"${EXECUTOR_ENV}={mode!r}: use one of {', '.join(MODES)}")
    if mode == "celery" and not dagster_celery_installed():
        raise ValueError(
            f"${EXECUTOR_ENV}=celery but dagster-celery is not installed (docs/deploy.md, 'Versions')"
        )
    return mode


def _modes() -> dict:
    fields = dict(_BASE.config_schema.config_type.fields)
    if dagster_celery_installed():
        fields["celery"] = CELERY_SCHEMA
    return fields


def _requirements(config: Mapping[str, object]):
    if "in_process" in config:
        return []
    return dg.multiple_process_executor_requirements()


def celery_executor(config: Mapping[str, object]):
    """A dagster-celery ``CeleryExecutor`` from the ``celery`` config, with the environment's
    broker and backend and matassets' worker settings."""
    from dagster._core.execution.retries import RetryMode

    from matassets.deploy.services import broker_url, result_backend

    executor_module = import_dagster_celery()
    return executor_module.CeleryExecutor(
        broker=config.get("broker") or broker_url(),
        backend=config.get("backend") or result_backend(),
        include=list(config.get("include") or WORKER_INCLUDE),
        config_source={**WORKER_SETTINGS, **dict(config.get("config_source") or {})},
        retries=RetryMode.from_config(config.get("retries") or {"enabled": {}}),
    )


@dg.executor(
    name="matassets_executor",
    config_schema=dg.Field(dg.Selector(_modes()), default_value={default_mode(): {}}),
    requirements=_requirements,
)
def matassets_executor(init_context):
    """``multiprocess`` (default), ``in_process`` or ``celery``; module docstring."""
    config = init_context.executor_config
    if "celery" in config:
        return celery_executor(config["celery"])
    return _BASE.executor_creation_fn(init_context)


def celery_run_config(**celery: object) -> dict:
    """The run config that sends a run's steps to the Celery workers."""
    return {"execution": {"config": {"celery": dict(celery)}}}
