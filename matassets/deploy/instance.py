"""``$DAGSTER_HOME/dagster.yaml`` for an instance on PostgreSQL (``matassets cluster init``).

The file is ``deploy/dagster/postgres.yaml`` with the server's host, port, user and database written
in (they are not secrets) and the password, when there is one, left as a reference to
``DAGSTER_PG_PASSWORD``: every process that opens the instance reads it from its own environment.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from matassets.dagster_home import open_instance
from matassets.deploy.services import Postgres
from matassets.paths import PROJECT_ROOT

TEMPLATE = PROJECT_ROOT / "deploy" / "dagster" / "postgres.yaml"
MARK = "# written by `matassets cluster init`"


def instance_config(pg: Postgres, training_slots: int = 2, template: Path = TEMPLATE) -> dict:
    """The instance config: the template with ``pg`` filled in and the ``training`` pool's limit."""
    if training_slots < 1:
        raise ValueError(f"training slots must be at least 1, not {training_slots}")
    config = yaml.safe_load(template.read_text(encoding="utf-8"))
    db: dict = {"hostname": pg.host, "port": pg.port, "username": pg.username, "db_name": pg.db_name}
    db["scheme"] = config["storage"]["postgres"]["postgres_db"]["scheme"]
    if pg.password is not None:
        db["password"] = {"env": "DAGSTER_PG_PASSWORD"}
    config["storage"] = {"postgres": {"postgres_db": db}}
    config["concurrency"]["pools"]["default_limit"] = training_slots
    return config


def write_instance_yaml(home: Path, pg: Postgres, training_slots: int = 2, force: bool = False) -> Path:
    """Write ``home/dagster.yaml``; an existing file is replaced only if this function wrote it
    (or with ``force``), so a hand-made instance is never overwritten by accident."""
    path = Path(home) / "dagster.yaml"
    if path.exists() and not force and not path.read_text(encoding="utf-8").startswith(MARK):
        raise FileExistsError(
            f"{path} exists and was not written by `matassets cluster init`; move it away or use --force"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(instance_config(pg, training_slots), sort_keys=False)
    header = f"{MARK} from deploy/dagster/postgres.yaml (docs/deploy.md); no password in this file\n"
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(header + text, encoding="utf-8")
    tmp.replace(path)
    return path


def check_instance(home: Path) -> str:
    """Open the instance in ``home`` (creating its tables on first use); a description of it."""
    with open_instance(home) as instance:
        storage = type(instance.run_storage).__name__
        runs = instance.get_runs_count()
    return f"{storage}, {runs} runs"
