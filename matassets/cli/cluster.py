"""``cluster``: the instance on PostgreSQL, Celery workers, and a whole local cluster (docs/deploy.md).

matassets cluster check                       PostgreSQL, the broker and the result backend answer?
matassets cluster init [--training-slots N]   create the database, write $DAGSTER_HOME/dagster.yaml
matassets cluster worker [--queue training]   one Celery worker (steps of runs on the celery executor)
matassets cluster up [--workers N]            init + webserver + daemon + N workers (make cluster)
matassets cluster status                      what `up` started, alive or not
matassets cluster down                        stop exactly what `up` started (make cluster-stop)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ORDER = 55
CODE_LOCATION = "matassets.definitions"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cluster",
        help="the instance on PostgreSQL, Celery workers, a local cluster (make cluster)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmds = p.add_subparsers(dest="cluster_command", required=True, metavar="command")

    c = cmds.add_parser("check", help="do PostgreSQL, the Celery broker and the result backend answer?")
    c.set_defaults(func=run_check)

    i = cmds.add_parser(
        "init",
        help="create the database and write $DAGSTER_HOME/dagster.yaml for it",
        description="Creates the database DAGSTER_PG_DB on the server DAGSTER_PG_HOST:DAGSTER_PG_PORT "
        "(user DAGSTER_PG_USERNAME; password from DAGSTER_PG_PASSWORD, never written), writes "
        "$DAGSTER_HOME/dagster.yaml from deploy/dagster/postgres.yaml and opens the instance once.",
    )
    home_arg(i)
    i.add_argument(
        "--training-slots",
        type=int,
        default=2,
        help="training steps at once across all runs and workers (pool 'training'; default 2)",
    )
    i.add_argument("--force", action="store_true", help="replace a dagster.yaml not written by init")
    i.set_defaults(func=run_init)

    w = cmds.add_parser(
        "worker",
        help="start one Celery worker in the foreground",
        description="Runs `celery -A matassets.deploy.celery_app worker`: it takes steps of runs on "
        "the celery executor from its queues (broker: $CELERY_BROKER_URL). Model steps are on queue "
        "'training', every other step on 'dagster'.",
    )
    w.add_argument(
        "--queue",
        "-q",
        action="append",
        help="queue to take steps from (repeatable; default: dagster and training)",
    )
    w.add_argument("--concurrency", "-c", type=int, default=1, help="steps at once (default 1)")
    w.add_argument("--name", "-n", default=None, help="worker name (default: worker-<pid>)")
    w.add_argument("--loglevel", "-l", default="INFO")
    w.set_defaults(func=run_worker)

    u = cmds.add_parser(
        "up",
        help="init, then start the webserver, the daemon and N workers in the background",
        description="Everything with pid files and logs under --state (default .cluster); "
        "`matassets cluster down` stops exactly these processes.",
    )
    home_arg(u)
    state_arg(u)
    u.add_argument("--workers", type=int, default=2, help="Celery workers (default 2)")
    u.add_argument("--training-slots", type=int, default=None, help="pool 'training' (default: --workers)")
    u.add_argument("--port", type=int, default=3000, help="webserver port on 127.0.0.1 (default 3000)")
    u.add_argument("--no-wait", action="store_true", help="return without waiting for them to answer")
    u.set_defaults(func=run_up)

    s = cmds.add_parser("status", help="the processes `up` started")
    state_arg(s)
    s.set_defaults(func=run_status)

    d = cmds.add_parser("down", help="stop exactly the processes `up` started")
    state_arg(d)
    d.add_argument("--timeout", type=float, default=30.0, help="seconds before SIGKILL (default 30)")
    d.set_defaults(func=run_down)


def home_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--home", type=Path, default=None, help="DAGSTER_HOME (default: $DAGSTER_HOME)")


def state_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state", type=Path, default=Path(".cluster"), help="pid files and logs (.cluster)")


def dagster_home(args: argparse.Namespace) -> Path:
    home = args.home or (Path(os.environ["DAGSTER_HOME"]) if os.environ.get("DAGSTER_HOME") else None)
    if home is None:
        raise SystemExit("error: set DAGSTER_HOME or give --home (the cluster instance's folder)")
    return home.resolve()


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def check_services(verbose: bool = True) -> str | None:
    """None when PostgreSQL, the broker and the backend answer; else the first one-line error."""
    from matassets.deploy import services

    pg = services.Postgres.from_env()
    try:
        version = pg.check()
        broker = services.check_broker()
        backend = services.check_backend()
    except services.ServiceUnavailable as error:
        return str(error)
    if verbose:
        print(f"PostgreSQL {version} at {pg.address} (user {pg.username})")
        print(f"broker {services.service_name(services.broker_url())} at {broker}")
        print(f"result backend {backend}")
    return None


def run_check(args: argparse.Namespace) -> int:
    error = check_services()
    return fail(error) if error else 0


def init(home: Path, training_slots: int, force: bool = False) -> None:
    from matassets.deploy import instance, services

    pg = services.Postgres.from_env()
    created = pg.create_database()
    path = instance.write_instance_yaml(home, pg, training_slots, force=force)
    described = instance.check_instance(home)
    state = "created" if created else "exists"
    print(
        f"database {pg.db_name} on {pg.address}: {state}; {path} written ({described}); "
        f"pool 'training': {training_slots} slots"
    )


def run_init(args: argparse.Namespace) -> int:
    from matassets.deploy.services import ServiceUnavailable

    try:
        init(dagster_home(args), args.training_slots, args.force)
    except (ServiceUnavailable, FileExistsError, ValueError) as error:
        return fail(str(error))
    return 0


def worker_argv(queues: list[str], concurrency: int, name: str, loglevel: str = "INFO") -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "matassets.deploy.celery_app",
        "worker",
        "-Q",
        ",".join(queues),
        "--concurrency",
        str(concurrency),
        "--prefetch-multiplier",
        "1",
        "-n",
        f"{name}@%h",
        "--loglevel",
        loglevel,
        "--without-gossip",
        "--without-mingle",
    ]


def run_worker(args: argparse.Namespace) -> int:
    from matassets.deploy import VERSION_WARNING, executor, services

    if not executor.dagster_celery_installed():
        return fail("dagster-celery is not installed (docs/deploy.md, 'Versions')")
    try:
        services.check_broker()
    except services.ServiceUnavailable as error:
        return fail(str(error))
    queues = args.queue or [executor.DEFAULT_QUEUE, executor.TRAINING_QUEUE]
    os.environ.setdefault(executor.EXECUTOR_ENV, "celery")
    os.environ.setdefault("PYTHONWARNINGS", f"ignore:{VERSION_WARNING}:UserWarning")
    argv = worker_argv(queues, args.concurrency, args.name or f"worker-{os.getpid()}", args.loglevel)
    sys.stdout.flush()
    os.execv(argv[0], argv)  # the worker replaces this process: its pid is the worker's
    return 0  # not reached


def cluster_env(home: Path) -> dict[str, str]:
    from matassets.deploy import VERSION_WARNING
    from matassets.deploy.executor import EXECUTOR_ENV

    env = dict(os.environ)
    env.update(
        {
            "DAGSTER_HOME": str(home),
            EXECUTOR_ENV: "celery",
            "DAGSTER_DISABLE_TELEMETRY": "1",
            "DVC_NO_ANALYTICS": "1",
            # processes that load the instance before matassets (webserver, daemon, run workers)
            "PYTHONWARNINGS": f"ignore:{VERSION_WARNING}:UserWarning",
        }
    )
    return env


def start_cluster(
    home: Path, state: Path, workers: int, port: int, training_slots: int | None = None
) -> list:
    """init, then the webserver, the daemon and ``workers`` workers; their ``Record``s."""
    from matassets.deploy.processes import Processes, bin_path

    procs = Processes(state)
    running = [r.name for r in procs.records() if r.alive()]
    if running:
        raise RuntimeError(f"already running: {', '.join(running)} (matassets cluster down first)")
    init(home, training_slots or workers)
    env = cluster_env(home)
    started = [
        # the Dagster UI behind matassets' request guard (matassets ui), its daemon apart
        procs.start(
            "webserver",
            [
                sys.executable,
                "-m",
                "matassets.cli",
                "ui",
                "--no-daemon",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--module",
                CODE_LOCATION,
            ],
            env,
        ),
        procs.start("daemon", [bin_path("dagster-daemon"), "run", "-m", CODE_LOCATION], env),
    ]
    for i in range(1, workers + 1):
        argv = [sys.executable, "-m", "matassets.cli", "cluster", "worker", "--name", f"worker{i}"]
        started.append(procs.start(f"worker{i}", argv, env))
    return started


def wait_for_workers(names: list[str], timeout: float = 180.0) -> list[str]:
    """Wait until every named worker answers a ping over the broker; the names that answered."""
    from celery import Celery

    from matassets.deploy.services import broker_url

    app = Celery("matassets-ping", broker=broker_url())  # a bare app: pinging needs no task
    deadline = time.monotonic() + timeout
    answered: set[str] = set()
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0) or []
        answered = {host.split("@")[0] for reply in replies for host in reply}
        if set(names) <= answered:
            break
        time.sleep(1.0)
    return sorted(answered & set(names))


def wait_for_webserver(port: int, timeout: float = 180.0) -> bool:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(1.0)
    return False


def run_up(args: argparse.Namespace) -> int:
    from matassets.deploy.services import ServiceUnavailable

    error = check_services(verbose=True)
    if error:
        return fail(error)
    home = dagster_home(args)
    try:
        records = start_cluster(home, args.state, args.workers, args.port, args.training_slots)
    except (ServiceUnavailable, RuntimeError, FileExistsError, ValueError) as err:
        return fail(str(err))
    for r in records:
        print(f"started {r.name} (pid {r.pid}), log {r.log}")
    if args.no_wait:
        return 0
    names = [r.name for r in records if r.name.startswith("worker")]
    ready = wait_for_workers(names)
    web = wait_for_webserver(args.port)
    print(
        f"workers answering: {', '.join(ready) or 'none'}; webserver "
        f"{f'on http://127.0.0.1:{args.port}' if web else 'NOT answering'}"
    )
    if len(ready) < len(names) or not web:
        return fail(f"not every process came up; see the logs in {args.state / 'logs'}")
    print("stop with `make cluster-stop` (or matassets cluster down)")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from matassets.deploy.processes import Processes

    records = Processes(args.state).records()
    if not records:
        print(f"nothing recorded in {args.state / 'run'}")
    for r in records:
        print(f"{r.name}: pid {r.pid} {'running' if r.alive() else 'NOT running'} (log {r.log})")
    return 0


def run_down(args: argparse.Namespace) -> int:
    from matassets.deploy.processes import Processes

    outcomes = Processes(args.state).stop_all(args.timeout)
    for line in outcomes or [f"nothing recorded in {args.state / 'run'}"]:
        print(line)
    return 0
