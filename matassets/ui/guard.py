"""An ASGI layer in front of Dagster's webserver that a web page in the user's browser cannot drive.

Dagster's webserver executes a GraphQL mutation sent as a plain ``GET /graphql?query=mutation…``
(an ``<img>`` or a link is enough), or as a ``text/plain`` POST (an HTML form), and it answers any
``Host`` header, so a page on another site can launch runs through a loopback-bound UI, directly or
after DNS rebinding. Binding 127.0.0.1 keeps other machines out; it does not keep out the pages a
local browser opens. ``RequestGuard`` refuses, with 403 and a one-line reason:

1. a ``Host`` header not in the allow-list (``127.0.0.1``, ``localhost`` and ``[::1]`` on the served
   port, plus names given with ``allowed_hosts``) — DNS rebinding;
2. an ``Origin`` that is not the origin of an allowed host (``null`` included) — every cross-origin
   POST, fetch and WebSocket;
3. ``Sec-Fetch-Site: cross-site`` or ``same-site`` (another port of localhost is same-site), except a
   top-level GET navigation to a UI page (a link to the UI from elsewhere keeps working; the page
   cannot frame it);
4. GraphQL over GET with a query string (``/graphql?query=…``): the UI sends every query as a JSON
   POST, so nothing it needs goes over GET;
5. a POST (PUT, PATCH, DELETE) whose media type is not exactly ``application/json``: forms and
   ``text/plain`` fetches cannot send it without a CORS preflight, which rule 2 refuses.

WebSocket handshakes pass the same Host and Origin rules. Nothing here parses GraphQL; the rules
look only at the method, path and headers, so they hold for any query the webserver would accept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ALLOWED_FETCH_SITES = frozenset({"same-origin", "none"})

log = logging.getLogger("matassets.ui.guard")


def _has_port(host: str) -> bool:
    """``name:port`` or ``[v6]:port`` (a bare ``[v6]`` or ``name`` has none)."""
    return ":" in host.rsplit("]", 1)[-1]


def allowed_host_set(port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """The Host header values accepted: the loopback names on ``port``, and each extra name as
    given (``dagster.example.org`` behind a proxy on the default port, or ``name:port``) plus, when
    it has no port, on ``port``."""
    hosts = {f"{name}:{port}" for name in LOOPBACK_NAMES}
    for name in extra:
        name = name.strip().lower()
        if not name:
            continue
        hosts.add(name)
        if not _has_port(name):
            hosts.add(f"{name}:{port}")
    return frozenset(hosts)


def media_type(content_type: str) -> str:
    """The essence of a Content-Type header: ``text/plain; x=application/json`` → ``text/plain``."""
    return content_type.split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class Request:
    """What the rules look at: one HTTP request or WebSocket handshake."""

    method: str  # "GET", "POST", … or "WEBSOCKET"
    path: str
    query_string: str
    headers: dict[str, str]  # lower-case names


def refusal(request: Request, hosts: frozenset[str], graphql_path: str = "/graphql") -> str | None:
    """Why ``request`` is refused, or None if it may reach the webserver."""
    h = request.headers
    host = h.get("host", "").strip().lower()
    if host not in hosts:
        return (
            f"Host {host or '(none)'!r} is not one this server answers to; allowed: "
            f"{', '.join(sorted(hosts))} (add a name with --allow-host)"
        )
    origin = h.get("origin")
    if origin is not None:
        parts = urlsplit(origin.strip().lower())
        if parts.scheme not in ("http", "https") or parts.netloc not in hosts or parts.path:
            return f"cross-origin request from {origin!r}"
    site = h.get("sec-fetch-site")
    if site is not None and site.lower() not in ALLOWED_FETCH_SITES:
        navigation = (
            request.method in ("GET", "HEAD")
            and h.get("sec-fetch-mode", "").lower() == "navigate"
            and h.get("sec-fetch-dest", "").lower() == "document"
            and not _is_graphql(request.path, graphql_path)
        )
        if not navigation:
            return f"{site} request (Sec-Fetch-Site) refused; open the UI from its own address"
    if request.method in ("GET", "HEAD") and _is_graphql(request.path, graphql_path):
        if request.query_string:
            return (
                "GraphQL over GET is refused (a link or an image could run a mutation); "
                "send a POST with Content-Type: application/json"
            )
    if request.method in UNSAFE_METHODS:
        kind = media_type(h.get("content-type", ""))
        if kind != "application/json":
            return f"{request.method} with Content-Type {kind or '(none)'!r} refused; send application/json"
    return None


def _is_graphql(path: str, graphql_path: str) -> bool:
    return path.rstrip("/").endswith(graphql_path)


class RequestGuard:
    """ASGI middleware: ``RequestGuard(app, port=3000, allowed_hosts=["myhost"])``.

    ``port`` is the port the browser sees (the served port, or a proxy's); when None, the port the
    server socket is bound to (``scope["server"]``) is used.
    """

    def __init__(
        self,
        app,
        port: int | None = None,
        allowed_hosts: Iterable[str] = (),
        graphql_path: str = "/graphql",
    ) -> None:
        self.app = app
        self.port = port
        self.extra = tuple(allowed_hosts)
        self.graphql_path = graphql_path.rstrip("/")
        self._hosts: dict[int, frozenset[str]] = {}

    def hosts(self, scope) -> frozenset[str]:
        port = self.port or (scope.get("server") or (None, 0))[1] or 0
        if port not in self._hosts:
            self._hosts[port] = allowed_host_set(port, self.extra)
        return self._hosts[port]

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        headers: dict[str, str] = {}
        for name, value in scope.get("headers", ()):
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            # a repeated Host or Origin is ambiguous: refuse it rather than pick one
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        request = Request(
            method="WEBSOCKET" if kind == "websocket" else scope["method"].upper(),
            path=scope["path"],
            query_string=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
        )
        reason = refusal(request, self.hosts(scope), self.graphql_path)
        if reason is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("?", 0)
        log.warning("refused %s %s from %s: %s", request.method, request.path, client[0], reason)
        if kind == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008, "reason": reason[:120]})
            return
        body = f"refused by matassets.ui.guard: {reason}\n".encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                    (b"x-content-type-options", b"nosniff"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
