"""``matassets ui``: the Dagster UI behind ``RequestGuard``, and the daemon beside it.

What ``dagster dev`` starts, with one difference: the webserver's ASGI app (dagster-webserver's
``create_app_from_workspace_process_context``, the app ``dagster-webserver`` itself serves) runs in
this process wrapped in the guard, so no unguarded port is ever open; behind the guard, the route of
the plots (``/matassets/files/models/…png``, ``ui/files.py``). The daemon (run queue,
schedules, sensors, run monitoring) runs as ``python -m dagster._daemon run`` in a child process
and is stopped when the server stops. ``DAGSTER_HOME`` must be set (``make ui`` sets it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from matassets.dagster_home import open_instance
from matassets.paths import PROJECT_ROOT, default_root
from matassets.ui.files import ModelFiles
from matassets.ui.guard import RequestGuard, allowed_host_set

DEFAULT_MODULE = "matassets.definitions"
WORKSPACE = PROJECT_ROOT / "workspace.yaml"  # names the location of DEFAULT_MODULE (``matassets``)
DEFAULT_PORT = 3000
HOSTS_ENV = "MATASSETS_UI_ALLOWED_HOSTS"  # extra Host names, comma-separated

log = logging.getLogger("matassets.ui")


def extra_hosts(given: Sequence[str] = ()) -> list[str]:
    """Names from ``--allow-host`` and from ``$MATASSETS_UI_ALLOWED_HOSTS``."""
    env = [h for h in os.environ.get(HOSTS_ENV, "").split(",") if h.strip()]
    return [*given, *env]


def location_target(module: str = DEFAULT_MODULE):
    """What the UI and its daemon load: the checkout's ``workspace.yaml`` for the project's own
    module, else ``module`` (named after itself). CLI runs carry the origin of this target
    (``cli/_location.py``), so they are runs of the location the UI shows."""
    from dagster._core.workspace.load_target import ModuleTarget, WorkspaceFileTarget

    if module == DEFAULT_MODULE and WORKSPACE.is_file():
        return WorkspaceFileTarget([str(WORKSPACE)])
    return ModuleTarget(module, None, None, None)


def guarded_app(module: str, instance, port: int, hosts: Sequence[str], stack: contextlib.ExitStack):
    """The webserver's ASGI app for the code location ``module``, wrapped in the guard."""
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster_webserver.app import create_app_from_workspace_process_context
    from dagster_webserver.version import __version__

    context = stack.enter_context(
        WorkspaceProcessContext(
            instance,
            workspace_load_target=location_target(module),
            version=__version__,
        )
    )
    app = create_app_from_workspace_process_context(context, "")
    return RequestGuard(ModelFiles(app, default_root()), port=port, allowed_hosts=hosts)


def start_daemon(module: str) -> subprocess.Popen:
    target = location_target(module)
    where = ["-w", *target.paths] if hasattr(target, "paths") else ["-m", module]
    return subprocess.Popen(
        [sys.executable, "-m", "dagster._daemon", "run", *where, "--log-level", "warning"],
        env=os.environ.copy(),
    )


def stop(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    module: str = DEFAULT_MODULE,
    allow_hosts: Sequence[str] = (),
    daemon: bool = True,
) -> int:
    """Serve the guarded UI on ``host:port`` until interrupted; 0 on a clean stop."""
    import uvicorn

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log.setLevel(logging.INFO)
    home = os.environ.get("DAGSTER_HOME")
    if not home or not Path(home).is_dir():
        print(
            "error: DAGSTER_HOME must name an existing folder (make ui uses .dagster_home/)",
            file=sys.stderr,
        )
        return 2
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    hosts = extra_hosts(allow_hosts)
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning(
            "binding %s: other machines can reach this UI, which has no login; the guard only stops "
            "web pages in browsers from driving it (docs/deploy.md)",
            host,
        )
    allowed = ", ".join(sorted(allowed_host_set(port, hosts)))
    with contextlib.ExitStack() as stack:
        instance = stack.enter_context(open_instance())
        from matassets.automation.dead_runs import fail_dead_runs

        for run_id in fail_dead_runs(instance):  # killed runs left STARTED: kill -9, a crash
            log.warning("run %s: its process is gone; marked failed", run_id)
        app = guarded_app(module, instance, port, hosts, stack)
        child = start_daemon(module) if daemon else None
        if child is not None:
            stack.callback(stop, child)
        log.info("Dagster UI on http://%s:%d behind matassets.ui.guard (Host: %s)", host, port, allowed)
        # uvicorn stops on SIGINT/SIGTERM and then re-raises the signal under the handler that was
        # there before it: make that an exception, so the daemon and the code server are stopped
        signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            uvicorn.run(app, host=host, port=port, log_level="warning")
        except KeyboardInterrupt:
            log.info("stopping the UI and the daemon")
    return 0


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def add_arguments(p) -> None:
    """The options of ``matassets ui`` and ``python -m matassets.ui``."""
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    p.add_argument("-p", "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("-m", "--module", default=DEFAULT_MODULE, help=f"code location (default {DEFAULT_MODULE})")
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME[:PORT]",
        help=f"another Host name the browser uses (a proxy's name); repeatable; also ${HOSTS_ENV}",
    )
    p.add_argument("--no-daemon", action="store_true", help="serve the UI only (no run queue or sensors)")


def run_from_args(args) -> int:
    return serve(args.host, args.port, args.module, args.allow_host, daemon=not args.no_daemon)
