"""Where the cluster's services are, and whether they answer.

Everything comes from the environment, with the local defaults of a development machine:

| variable | default | what |
| --- | --- | --- |
| ``DAGSTER_PG_HOST`` / ``DAGSTER_PG_PORT`` | ``127.0.0.1`` / ``5432`` | PostgreSQL server |
| ``DAGSTER_PG_USERNAME`` | ``postgres`` | its user |
| ``DAGSTER_PG_PASSWORD`` | (none: trust or peer auth) | read as a ``Secret``, never written to a file |
| ``DAGSTER_PG_DB`` | ``matassets`` | the instance's database (created by ``matassets cluster init``) |
| ``CELERY_BROKER_URL`` | ``pyamqp://guest:guest@127.0.0.1:5672//`` | RabbitMQ (or ``redis://…``) |
| ``CELERY_RESULT_BACKEND`` | ``rpc://`` | step results back to the run (or ``redis://…/0``) |

A service that does not answer raises ``ServiceUnavailable`` whose message is one line naming it
and its address (``PostgreSQL not reachable at 127.0.0.1:5432``), the reason after a colon.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from matassets.secrets import Secret, get_secret, redact

DEFAULT_BROKER = "pyamqp://guest:guest@127.0.0.1:5672//"
DEFAULT_BACKEND = "rpc://"
CONNECT_TIMEOUT_S = 3


class ServiceUnavailable(RuntimeError):
    """A service the cluster needs does not answer; the message is one line."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0].strip() if text else type(error).__name__


@dataclass(frozen=True)
class Postgres:
    """A PostgreSQL server and the instance's database on it."""

    host: str = "127.0.0.1"
    port: int = 5432
    username: str = "postgres"
    db_name: str = "matassets"
    password: Secret | None = None

    @classmethod
    def from_env(cls, db_name: str | None = None) -> Postgres:
        env = os.environ
        return cls(
            host=env.get("DAGSTER_PG_HOST") or cls.host,
            port=int(env.get("DAGSTER_PG_PORT") or cls.port),
            username=env.get("DAGSTER_PG_USERNAME") or cls.username,
            db_name=db_name or env.get("DAGSTER_PG_DB") or cls.db_name,
            password=get_secret("DAGSTER_PG_PASSWORD", required=False),
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def with_db(self, db_name: str) -> Postgres:
        return Postgres(self.host, self.port, self.username, db_name, self.password)

    def connect(self, db_name: str | None = None):
        """A psycopg2 connection (autocommit) to ``db_name`` (default: the instance's database)."""
        import psycopg2

        try:
            conn = psycopg2.connect(
                host=self.host,
                port=self.port,
                user=self.username,
                password=self.password.reveal() if self.password else None,
                dbname=db_name or self.db_name,
                connect_timeout=CONNECT_TIMEOUT_S,
            )
        except psycopg2.OperationalError as error:
            reason = redact(_first_line(error), self.password)
            raise ServiceUnavailable(f"PostgreSQL not reachable at {self.address}: {reason}") from None
        conn.autocommit = True
        return conn

    def check(self) -> str:
        """The server's version string, or ``ServiceUnavailable``."""
        conn = self.connect("postgres")
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW server_version")
                return cur.fetchone()[0]
        finally:
            conn.close()

    def database_exists(self, name: str | None = None) -> bool:
        conn = self.connect("postgres")
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name or self.db_name,))
                return cur.fetchone() is not None
        finally:
            conn.close()

    def create_database(self, name: str | None = None) -> bool:
        """Create the database unless it exists; True when it was created now."""
        from psycopg2 import sql

        name = name or self.db_name
        if self.database_exists(name):
            return False
        conn = self.connect("postgres")
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        finally:
            conn.close()
        return True

    def drop_database(self, name: str) -> None:
        """Drop ``name``, closing the sessions still connected to it (PostgreSQL 13 and later)."""
        from psycopg2 import sql

        conn = self.connect("postgres")
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        finally:
            conn.close()


def broker_url() -> str:
    return os.environ.get("CELERY_BROKER_URL") or DEFAULT_BROKER


def result_backend() -> str:
    return os.environ.get("CELERY_RESULT_BACKEND") or DEFAULT_BACKEND


def _host_port(url: str, default_port: int) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or default_port}"


def service_name(url: str) -> str:
    scheme = urlsplit(url).scheme
    if scheme.startswith("redis"):
        return "Redis"
    if scheme in ("amqp", "pyamqp", "amqps", "librabbitmq"):
        return "RabbitMQ"
    return scheme or "broker"


def without_password(url: str) -> str:
    """``url`` with its password (if any) shown as ``***``."""
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)


def check_broker(url: str | None = None) -> str:
    """Connect to the Celery broker once; its address, or ``ServiceUnavailable``."""
    from kombu import Connection

    url = url or broker_url()
    default_port = 6379 if url.startswith("redis") else 5672
    address = _host_port(url, default_port)
    try:
        with Connection(url, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            conn.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=CONNECT_TIMEOUT_S
            )
    except Exception as error:  # kombu raises the transport's own errors
        raise ServiceUnavailable(
            f"{service_name(url)} not reachable at {address}: {_first_line(error)}"
        ) from None
    return address


def check_backend(url: str | None = None) -> str:
    """The result backend answers (``rpc://`` is the broker itself); its description."""
    url = url or result_backend()
    if url.startswith("rpc"):
        return "rpc:// (through the broker)"
    if url.startswith("redis"):
        import redis

        address = _host_port(url, 6379)
        try:
            redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S).ping()
        except redis.RedisError as error:
            raise ServiceUnavailable(f"Redis not reachable at {address}: {_first_line(error)}") from None
        return without_password(url)
    return without_password(url)
