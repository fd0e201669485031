"""A web page on another origin cannot launch a run through ``matassets ui`` (the documented UI
command, the one ``make ui`` starts), in a real browser.

``matassets ui --no-daemon`` serves the code location on a free loopback port with a temporary
DAGSTER_HOME (without the daemon a launched run stays QUEUED in the instance, where the test counts
it and nothing executes). Chromium (Debian's, through Playwright) then opens a page served from
another origin (``http://attacker.test:<port>``, mapped to 127.0.0.1 by the browser's resolver
rules) that tries a ``launchRun`` mutation as an ``<img>`` GET, as an auto-submitted text/plain form,
and as ``fetch`` (no-cors text/plain, and CORS with JSON); and a DNS-rebinding page
(``http://rebind.test:<ui port>``) that sends the mutation same-origin. The guard refuses each (its
log names them) and the instance has no run. The same mutation sent the way the UI sends it (a
same-origin JSON POST) does create a run: the attack's payload is not a dud. The UI's asset graph
loads through the guard.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from test_dagster_ui import CHROMIUM_FLAGS, LOCATION, REPO, SHOTS, _chromium, _free_port, _stop

pytestmark = pytest.mark.ui

LAUNCH = (
    "mutation { launchRun(executionParams: {selector: {repositoryLocationName: "
    f'"{LOCATION}", repositoryName: "__repository__", jobName: "data_job"}}, runConfigData: {{}}, '
    'executionMetadata: {tags: [{key: "dagster/partition", value: "smoke"}]}}) '
    "{ __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"
)
RESOLVER = "--host-resolver-rules=MAP attacker.test 127.0.0.1, MAP rebind.test 127.0.0.1"


def attack_page(ui: str) -> str:
    """The attacker's page: three ways to send ``launchRun`` to the UI at ``ui``; the results of the
    two fetches it can observe end up in ``window.results``."""
    url = f"{ui}/graphql?query={quote(LAUNCH)}"
    body = json.dumps({"query": LAUNCH})
    return f"""<!doctype html><html><body><h1>cat pictures</h1>
<img src="{url}">
<iframe name="sink" style="display:none"></iframe>
<form id="f" method="POST" enctype="text/plain" target="sink" action="{url}">
<input type="hidden" name='{{"x":"' value='"}}'></form>
<script>
window.results = [];
document.getElementById("f").submit();
fetch("{ui}/graphql", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}},
  body: {json.dumps(body)}}})
  .then(r => results.push("no-cors:" + r.type), e => results.push("no-cors:error"));
fetch("{ui}/graphql", {{method: "POST", headers: {{"Content-Type": "application/json"}},
  body: {json.dumps(body)}}})
  .then(r => results.push("cors:" + r.status), e => results.push("cors:blocked"));
</script></body></html>"""


@pytest.fixture
def guarded_ui(tmp_path):
    """``matassets ui --no-daemon`` on a free port with a fresh instance; (base URL, home, log)."""
    home, root = tmp_path / "dagster_home", tmp_path / "project"
    home.mkdir()
    root.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "MATASSETS_ROOT": str(root),
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    log_path = tmp_path / "matassets_ui.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    matassets = Path(sys.executable).with_name("matassets")
    proc = subprocess.Popen(
        [str(matassets), "ui", "--port", str(port), "--no-daemon"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            try:
                with urllib.request.urlopen(base + "/server_info", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "matassets ui did not answer within 120 s"
            time.sleep(1)
        yield base, home, log_path
    finally:
        _stop(proc)
        log.close()


@pytest.fixture
def attacker(guarded_ui):
    """An HTTP server on another port serving the attack page; its URL as the browser sees it."""
    page = attack_page(guarded_ui[0]).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://attacker.test:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def runs(home: Path) -> int:
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        return instance.get_runs_count()


def test_another_origin_cannot_launch_a_run_and_the_ui_loads(guarded_ui, attacker):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (dev extra) missing")
    executable = _chromium()
    base, home, server_log = guarded_ui
    port = base.rsplit(":", 1)[1]
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable, args=[*CHROMIUM_FLAGS, RESOLVER], headless=True
        )
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(60_000)
        try:
            # the real UI, through the guard: the asset graph (loaded by GraphQL POSTs) shows
            page.goto(base + "/asset-groups")
            try:
                page.get_by_role("button", name="Skip").click(timeout=15_000)
            except sync_api.TimeoutError:
                pass
            sync_api.expect(page.get_by_text("Global asset lineage")).to_be_visible()
            sync_api.expect(page.get_by_text("data", exact=True).first).to_be_visible()
            page.screenshot(path=SHOTS / "guard_01_ui_through_guard.png")
            assert "refused" not in server_log.read_text(), "the guard refused the UI's own requests"

            # the attacker's page: <img> GET, text/plain form POST, two fetches
            page.goto(attacker)
            page.wait_for_function("window.results && window.results.length == 2", timeout=30_000)
            results = sorted(page.evaluate("window.results"))
            assert results == ["cors:blocked", "no-cors:opaque"], results
            deadline = time.monotonic() + 20  # the img and the form's iframe load on their own
            while server_log.read_text().count("refused") < 4 and time.monotonic() < deadline:
                time.sleep(0.5)
            page.screenshot(path=SHOTS / "guard_02_attack_page.png")
            assert runs(home) == 0, "the attack page launched a run"

            # DNS rebinding: a page whose name now resolves to 127.0.0.1 posts same-origin JSON
            response = page.goto(f"http://rebind.test:{port}/")
            assert response.status == 403
            status = page.evaluate(
                """q => fetch("/graphql", {method: "POST", headers: {"Content-Type": "application/json"},
                body: JSON.stringify({query: q})}).then(r => r.status)""",
                LAUNCH,
            )
            assert status == 403
        except Exception:
            page.screenshot(path=SHOTS / "guard_failure.png", full_page=True)
            raise
        finally:
            browser.close()

    log = server_log.read_text()
    mark = "matassets.ui.guard WARNING refused "
    refused = [line.split(mark, 1)[1] for line in log.splitlines() if mark in line]
    attacker_origin = attacker.rstrip("/")
    assert any(r.startswith("GET /graphql") for r in refused), refused  # the <img>
    # the form and the no-cors fetch (each refused), the CORS fetch's preflight (so no POST follows)
    posts = [r for r in refused if r.startswith("POST /graphql") and attacker_origin in r]
    assert len(posts) == 2, refused
    assert any(r.startswith("OPTIONS /graphql") and attacker_origin in r for r in refused), refused
    assert any(r.startswith("POST /graphql") and f"Host 'rebind.test:{port}'" in r for r in refused), refused
    assert runs(home) == 0, log[-3000:]

    # the same mutation as the UI sends it does launch a run: the attack was not a dud
    request = urllib.request.Request(
        base + "/graphql",
        data=json.dumps({"query": LAUNCH}).encode(),
        headers={"Content-Type": "application/json", "Origin": base},
    )
    with urllib.request.urlopen(request, timeout=60) as r:
        answer = json.loads(r.read())
    assert answer["data"]["launchRun"]["__typename"] == "LaunchRunSuccess", answer
    assert runs(home) == 1
