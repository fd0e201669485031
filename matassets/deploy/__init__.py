"""Running the code location on Dagster's distributed pieces (docs/deploy.md).

- ``services``: where PostgreSQL, the Celery broker and the result backend are (environment
  variables with local defaults), a one-line error when one is not reachable, the database itself.
- ``instance``: ``$DAGSTER_HOME/dagster.yaml`` for an instance on PostgreSQL, from
  ``deploy/dagster/postgres.yaml`` and the environment (a password is only ever referenced).
- ``executor``: the executor of every job: in-process, multiprocess (the one-machine default) or
  Celery, chosen by run config or, for runs that carry none (sensors, schedules), ``$MATASSETS_EXECUTOR``.
- ``celery_app``: the Celery app a worker runs (``matassets cluster worker``).
- ``processes``: ``make cluster``: webserver, daemon and workers as local processes with pid files.

One machine with no services needs none of this: the SQLite instance and the multiprocess executor
stay the default.
"""

import warnings

# dagster-celery/-postgres/-k8s 0.29.27 are the newest on the package index, one patch behind
# dagster 1.13.28 (docs/deploy.md, "Versions"); dagster warns about it at every import of one.
VERSION_WARNING = "Found version mismatch"
warnings.filterwarnings("ignore", message=VERSION_WARNING, category=UserWarning)
