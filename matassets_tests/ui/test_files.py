"""The plots' route (``matassets.ui.files``) behind the guard, and the links the metadata writes to it.

Synthetic fixture: a project root with a 1x1 PNG under ``models/`` and files around it (a secret
beside ``models/``, a symbolic link out of ``models/``, a JSON file inside), driven through ASGI
in-process like ``test_guard.py``.
"""

from __future__ import annotations

import base64

import pytest
from test_guard import HOST, call

from matassets.io import sha256_file
from matassets.ui.files import ROUTE, ModelFiles
from matassets.ui.guard import RequestGuard

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
SAME_ORIGIN = {"host": HOST, "sec-fetch-site": "same-origin"}


async def dagster(scope, receive, send):  # a stand-in for the webserver: says who answered
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"dagster"})


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "models/cgcnn_band_gap/smoke"
    folder.mkdir(parents=True)
    (folder / "parity.png").write_bytes(PNG)
    (folder / "metrics.json").write_text("{}")
    (tmp_path / "secret.png").write_bytes(PNG)
    (folder / "escape.png").symlink_to(tmp_path / "secret.png")
    (folder / "inside.png").symlink_to(folder / "parity.png")
    return tmp_path


def test_the_route_serves_pngs_under_models_only(project):
    app = RequestGuard(ModelFiles(dagster, project), port=3000)
    status, body = call(app, "GET", ROUTE + "models/cgcnn_band_gap/smoke/parity.png", SAME_ORIGIN)
    assert status == 200
    digest = sha256_file(project / "models/cgcnn_band_gap/smoke/parity.png")
    ok = call(
        app,
        "GET",
        ROUTE + "models/cgcnn_band_gap/smoke/parity.png",
        SAME_ORIGIN,
        query=f"sha256={digest[:16]}",
    )
    assert ok[0] == 200
    assert call(app, "GET", ROUTE + "models/cgcnn_band_gap/smoke/inside.png", SAME_ORIGIN)[0] == 200
    refused = {
        "models/cgcnn_band_gap/smoke/../../../secret.png": (403, "plain names"),
        "models/cgcnn_band_gap/smoke/%2e%2e/%2e%2e/%2e%2e/secret.png": (403, "plain names"),
        "secret.png": (403, "only files under models/"),
        "models/cgcnn_band_gap/smoke/escape.png": (403, "leads out of models/"),
        "models/cgcnn_band_gap/smoke/metrics.json": (403, "only .png"),
        "models/cgcnn_band_gap/smoke/missing.png": (404, "no file"),
        "models/cgcnn_band_gap/smoke/.hidden.png": (403, "plain names"),
    }
    for path, (code, words) in refused.items():
        status, text = call(app, "GET", ROUTE + path, SAME_ORIGIN)
        assert (status, words in text) == (code, True), (path, status, text)
    # the file was replaced since the link was written: 410, not the newer model's plot
    stale = call(
        app, "GET", ROUTE + "models/cgcnn_band_gap/smoke/parity.png", SAME_ORIGIN, query="sha256=00ff"
    )
    assert stale[0] == 410 and "replaced" in stale[1]
    # read-only, and the guard still stands in front of it; other paths go to the webserver
    post = {**SAME_ORIGIN, "content-type": "application/json"}
    assert call(app, "POST", ROUTE + "models/cgcnn_band_gap/smoke/parity.png", post)[0] == 405
    foreign = {"host": HOST, "origin": "http://attacker.test", "sec-fetch-site": "cross-site"}
    assert call(app, "GET", ROUTE + "models/cgcnn_band_gap/smoke/parity.png", foreign)[0] == 403
    assert call(app, "GET", "/assets", SAME_ORIGIN) == (200, "dagster")


def test_plot_metadata_is_a_short_link_that_follows_a_promoted_candidate(project, monkeypatch):
    import dagster as dg

    from matassets.assets.metadata import image, moved

    monkeypatch.setenv("MATASSETS_ROOT", str(project))
    candidate = project / "models/cgcnn_band_gap/candidates/smoke-r1"
    candidate.mkdir(parents=True)
    (candidate / "parity.png").write_bytes(PNG)
    link = image(candidate / "parity.png").value
    digest = sha256_file(candidate / "parity.png")
    assert link == f"![parity]({ROUTE}models/cgcnn_band_gap/candidates/smoke-r1/parity.png?sha256={digest})"
    assert len(link) < 1000  # Dagster draws Markdown under 1,000 characters inline
    meta = {"parity": image(candidate / "parity.png"), "note": dg.MetadataValue.md("![x](elsewhere)")}
    final = project / "models/cgcnn_band_gap/smoke"
    after = moved(meta, candidate, final)
    assert (
        after["parity"].value == f"![parity]({ROUTE}models/cgcnn_band_gap/smoke/parity.png?sha256={digest})"
    )
    assert after["note"] == meta["note"]
    # outside models/ (no route serves it): the PNG itself, base64
    assert image(project / "secret.png").value.startswith("![secret](data:image/png;base64,")
