"""``matassets.ui.guard`` in front of Dagster's real webserver app (an instance with an empty
workspace, driven through ASGI in-process): the unguarded app runs a mutation sent as a GET or as a
text/plain POST (the upstream behaviour the guard exists for); behind the guard those, a foreign
Host, a cross-site Origin or Sec-Fetch-Site, and a disguised Content-Type are refused with 403 and
change nothing, while the requests the UI makes (its pages, same-origin JSON POSTs, its WebSocket)
go through. The mutation used is ``setConcurrencyLimit``: its effect is visible in the instance.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

import pytest

from matassets.ui.guard import Request, RequestGuard, allowed_host_set, media_type, refusal

PORT = 3000
HOST = f"127.0.0.1:{PORT}"


def mutation(key: str) -> str:
    return f'mutation {{ setConcurrencyLimit(concurrencyKey: "{key}", limit: 7) }}'


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    """(Dagster's ASGI app, its instance): a temporary SQLite instance, no code location."""
    import dagster as dg
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import EmptyWorkspaceTarget
    from dagster_webserver.app import create_app_from_workspace_process_context

    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        with WorkspaceProcessContext(instance, EmptyWorkspaceTarget()) as context:
            yield create_app_from_workspace_process_context(context, ""), instance


def call(app, method: str, path: str, headers: dict[str, str], body: bytes = b"", query: str = ""):
    """One HTTP request through an ASGI app: (status, body text)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", PORT),
    }
    inbox = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive():
        if inbox:
            return inbox.pop(0)
        await asyncio.sleep(3600)  # pragma: no cover - a response never waits for a disconnect here

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    text = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, text.decode("utf-8", "replace")


def websocket(app, headers: dict[str, str]) -> list[str]:
    """A GraphQL WebSocket handshake then a disconnect: the message types the app sent."""
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "subprotocols": ["graphql-ws"],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", PORT),
    }
    inbox = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}]
    sent: list[str] = []

    async def receive():
        return inbox.pop(0) if inbox else {"type": "websocket.disconnect", "code": 1000}

    async def send(message):
        sent.append(message["type"])

    asyncio.run(app(scope, receive, send))
    return sent


def limits(instance) -> set[str]:
    return set(instance.event_log_storage.get_concurrency_keys())


def test_unguarded_webserver_runs_a_mutation_sent_as_get_or_text_plain(webserver):
    """The defect: Dagster's own app executes a mutation from a plain GET (an <img> or a link) and
    from a text/plain POST with the query in the URL (an HTML form), both without CORS preflight."""
    app, instance = webserver
    status, _ = call(app, "GET", "/graphql", {"host": HOST}, query="query=" + quote(mutation("by_get")))
    assert status == 200 and "by_get" in limits(instance)
    status, _ = call(
        app,
        "POST",
        "/graphql",
        {"host": "evil.example:3000", "origin": "http://evil.example:3000", "content-type": "text/plain"},
        body=b"x",
        query="query=" + quote(mutation("by_form")),
    )
    assert status == 200 and "by_form" in limits(instance)


JSON = "application/json"
REFUSED = {  # name -> (method, headers, body, query string, words of the reason)
    "GET mutation": ("GET", {}, b"", "query=" + quote(mutation("r1")), "GraphQL over GET"),
    "GET mutation, html accept": (
        "GET",
        {"accept": "text/html"},
        b"",
        "query=" + quote(mutation("r2")),
        "GraphQL over GET",
    ),
    "text/plain form POST": (
        "POST",
        {"content-type": "text/plain"},
        b"x",
        "query=" + quote(mutation("r3")),
        "Content-Type 'text/plain'",
    ),
    "urlencoded form POST": (
        "POST",
        {"content-type": "application/x-www-form-urlencoded"},
        b"a=b",
        "query=" + quote(mutation("r4")),
        "application/x-www-form-urlencoded",
    ),
    "text/plain disguised as json": (  # Dagster tests `"application/json" in content_type`
        "POST",
        {"content-type": "text/plain; charset=application/json"},
        json.dumps({"query": mutation("r5")}).encode(),
        "",
        "Content-Type 'text/plain'",
    ),
    "POST without content type": ("POST", {}, b"", "query=" + quote(mutation("r6")), "'(none)'"),
    "cross-origin JSON POST": (
        "POST",
        {"origin": "http://127.0.0.2:8000", "content-type": JSON},
        json.dumps({"query": mutation("r7")}).encode(),
        "",
        "cross-origin",
    ),
    "null origin": (
        "POST",
        {"origin": "null", "content-type": JSON},
        json.dumps({"query": mutation("r8")}).encode(),
        "",
        "cross-origin",
    ),
    "cross-site fetch without Origin": (
        "POST",
        {"sec-fetch-site": "cross-site", "sec-fetch-mode": "cors", "content-type": JSON},
        json.dumps({"query": mutation("r9")}).encode(),
        "",
        "cross-site",
    ),
    "same-site (another localhost port)": (
        "POST",
        {"sec-fetch-site": "same-site", "content-type": JSON},
        json.dumps({"query": mutation("r10")}).encode(),
        "",
        "same-site",
    ),
    "DNS rebinding (foreign Host)": (
        "POST",
        {"host": "rebind.example:3000", "origin": "http://rebind.example:3000", "content-type": JSON},
        json.dumps({"query": mutation("r11")}).encode(),
        "",
        "Host 'rebind.example:3000'",
    ),
    "Host on another port": (
        "POST",
        {"host": "127.0.0.1:8000", "content-type": JSON},
        json.dumps({"query": mutation("r12")}).encode(),
        "",
        "Host '127.0.0.1:8000'",
    ),
}


@pytest.mark.parametrize("name", REFUSED)
def test_guard_refuses_and_nothing_changes(webserver, name):
    app, instance = webserver
    method, headers, body, query, words = REFUSED[name]
    before = limits(instance)
    status, text = call(
        RequestGuard(app, port=PORT), method, "/graphql", {"host": HOST, **headers}, body, query
    )
    assert status == 403, text
    assert text.startswith("refused by matassets.ui.guard:") and words in text, text
    assert limits(instance) == before


def test_guard_passes_what_the_ui_sends(webserver):
    app, instance = webserver
    guarded = RequestGuard(app, port=PORT)
    # a same-origin JSON POST (what the UI's GraphQL client sends) runs, from any allowed name
    for host in (HOST, f"localhost:{PORT}", f"[::1]:{PORT}"):
        key = "ok_" + host.split(":")[0].strip("[]").replace(".", "_")
        headers = {"host": host, "origin": f"http://{host}", "content-type": f"{JSON}; charset=utf-8"}
        headers |= {"sec-fetch-site": "same-origin", "sec-fetch-mode": "cors"}
        status, text = call(
            guarded, "POST", "/graphql", headers, json.dumps({"query": mutation(key)}).encode()
        )
        assert status == 200 and '"setConcurrencyLimit":true' in text.replace(" ", ""), text
        assert key in limits(instance)
    # its pages, typed in the address bar or followed from a link on another site (not framed)
    for site in ("none", "cross-site"):
        nav = {"sec-fetch-site": site, "sec-fetch-mode": "navigate", "sec-fetch-dest": "document"}
        status, text = call(guarded, "GET", "/asset-groups", {"host": HOST, **nav})
        assert status == 200 and "<html" in text.lower()
    framed = {"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", "sec-fetch-dest": "iframe"}
    assert call(guarded, "GET", "/asset-groups", {"host": HOST, **framed})[0] == 403
    assert call(guarded, "GET", "/server_info", {"host": HOST})[0] == 200
    # GraphiQL's page (no query string) is still served
    status, text = call(guarded, "GET", "/graphql", {"host": HOST, "accept": "text/html"})
    assert status == 200 and "graphiql" in text.lower()


def test_guard_checks_websocket_handshakes(webserver):
    app, _ = webserver
    guarded = RequestGuard(app, port=PORT)
    own = websocket(guarded, {"host": HOST, "origin": f"http://{HOST}"})
    assert own[0] == "websocket.accept"
    for headers in (
        {"host": HOST, "origin": "http://127.0.0.2:8000"},  # cross-site WebSocket hijacking
        {"host": "rebind.example:3000", "origin": "http://rebind.example:3000"},
    ):
        assert websocket(guarded, headers) == ["websocket.close"]


def test_allowed_hosts_and_media_types():
    hosts = allowed_host_set(3000, ["dagster.example.org", "box:8080", "[fd00::1]", " "])
    assert {"127.0.0.1:3000", "localhost:3000", "[::1]:3000"} <= hosts
    assert {
        "dagster.example.org",
        "dagster.example.org:3000",
        "box:8080",
        "[fd00::1]",
        "[fd00::1]:3000",
    } <= hosts
    assert "box:8080:3000" not in hosts and "" not in hosts and "127.0.0.1" not in hosts
    assert media_type("Application/JSON; charset=utf-8") == "application/json"
    assert media_type("text/plain;application/json") == "text/plain"

    def req(**headers) -> Request:
        return Request("POST", "/graphql", "", {"content-type": JSON, **headers})

    assert refusal(req(host="dagster.example.org", origin="https://dagster.example.org"), hosts) is None
    assert refusal(req(host="box:8080"), hosts) is None
    assert "Host" in refusal(req(host="127.0.0.1:3000, evil:3000"), hosts)  # a repeated Host
    assert "Host '(none)'" in refusal(req(), hosts)
    assert "cross-origin" in refusal(req(host="box:8080", origin="http://box:8080/x"), hosts)
    assert "cross-origin" in refusal(req(host="box:8080", origin="ftp://box:8080"), hosts)
