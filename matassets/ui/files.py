"""``GET /matassets/files/models/…/plot.png``: the project's plots, served to the UI's asset pages.

Dagster's UI draws a Markdown metadata value inline only when it is under 1,000 characters; a plot
embedded as a base64 PNG is far longer and sat behind a click on *[Show Markdown]*. The metadata now
holds a short image link to this route (``assets/metadata.py: image``), which ``matassets ui`` serves
behind ``RequestGuard`` (so the guard's Host, Origin and Sec-Fetch rules apply to it too).

Read-only and narrow: GET or HEAD; a path made of plain names under ``<project root>/models/``
ending in ``.png``; no ``..``, no empty or hidden segment; a symbolic link whose target leaves
``models/`` is refused. ``?sha256=<hex prefix>`` names the file's content: when the file was replaced
since (a newer model), the answer is 410, so an old materialization never shows a newer model's plot.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qs, unquote

ROUTE = "/matassets/files/"
SUFFIX = ".png"

log = logging.getLogger("matassets.ui.files")


class Refused(Exception):
    """A request this route does not answer: ``status`` and a one-line reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def plot_file(root: Path, relative: str, sha256: str = "") -> Path:
    """The file ``relative`` (``models/…/x.png``) names under ``root``, or ``Refused``."""
    from matassets.io import sha256_file

    parts = relative.split("/")
    if parts[0] != "models" or len(parts) < 2:
        raise Refused(403, "only files under models/ are served")
    if any(not p or p.startswith(".") or "\\" in p or "\0" in p for p in parts):
        raise Refused(403, "a path of plain names only (no '..', hidden or empty segment)")
    if not relative.endswith(SUFFIX):
        raise Refused(403, f"only {SUFFIX} files are served")
    models = (root / "models").resolve()
    try:
        path = (root / relative).resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise Refused(404, f"no file {relative}") from None
    if not path.is_relative_to(models):
        raise Refused(403, f"{relative} leads out of models/ (a symbolic link)")
    if not path.is_file():
        raise Refused(404, f"no file {relative}")
    if sha256 and not sha256_file(path, 64).startswith(sha256.lower()):
        raise Refused(410, f"{relative} was replaced since this link was written (a newer model)")
    return path


class ModelFiles:
    """ASGI: answers ``ROUTE`` from ``root``'s ``models/``; every other request goes to ``app``."""

    def __init__(self, app, root: Path) -> None:
        self.app = app
        self.root = Path(root)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(ROUTE):
            await self.app(scope, receive, send)
            return
        method = scope["method"].upper()
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        try:
            if method not in ("GET", "HEAD"):
                raise Refused(405, f"{method} refused: this route is read-only")
            path = plot_file(self.root, unquote(scope["path"][len(ROUTE) :]), query.get("sha256", [""])[0])
            status, kind, body = 200, b"image/png", path.read_bytes()
        except Refused as exc:
            log.warning("refused %s %s: %s", method, scope["path"], exc)
            status, kind, body = exc.status, b"text/plain; charset=utf-8", f"{exc}\n".encode()
        headers = [
            (b"content-type", kind),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-cache"),
            (b"x-content-type-options", b"nosniff"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})
