"""The Dagster UI in a real browser: ``matassets ui`` (the guarded webserver and the daemon, what
``make ui`` starts) on a free loopback port with a temporary DAGSTER_HOME, driven by Playwright
through Debian's chromium.

The data assets of the ``smoke`` partition are materialized by the CLI (``matassets data``, a run of
the named ``data_job``) into the same instance first; then, from the UI: the asset graph shows the
assets, the model asset shows its six partitions, a ``smoke`` materialization of
``cgcnn_formation_energy`` is launched and waited for, and its materialization shows the metrics
table, the key numbers and the plots, drawn without a click (served by ``matassets ui``'s route);
Runs and the Overview timeline show the CLI's run by its job name. Screenshots go to
``test-output/ui/``. Skips (with the reason) only where chromium cannot be installed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.ui

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-output" / "ui"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCATION = "matassets"  # the code location's name in workspace.yaml, which matassets ui loads
MODEL = "cgcnn_formation_energy"
PARTITIONS = ("smoke", "lite", "std", "pro", "max", "competition")
DATA_ASSETS = ("raw_structures", "structures", "splits", "crystal_graphs")
MODEL_ASSETS = ("cgcnn_formation_energy", "cgcnn_band_gap", "cgcnn_K_VRH", "cgcnn_G_VRH")


def _chromium() -> str:
    """Debian's chromium, installed with apt-get when missing; skip only if that cannot work."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if not (shutil.which("apt-get") and os.geteuid() == 0):
        pytest.skip("chromium is not installed, and apt-get as root is not available to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["apt-get", *args], capture_output=True, text=True, env=env, timeout=900)

    out = apt("install", "-y", "chromium")
    if not shutil.which("chromium"):  # an old or missing package list: refresh it once
        apt("update")
        out = apt("install", "-y", "chromium")
    found = shutil.which("chromium")
    if not found:
        pytest.skip(f"chromium cannot be installed: {(out.stderr or out.stdout).strip()[-300:]}")
    return found


def _failed_runs() -> list[str]:
    """The ids of failed runs in the test's instance (``$DAGSTER_HOME``, set by the fixture)."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        return [r.run_id for r in instance.get_runs() if r.status == dg.DagsterRunStatus.FAILURE]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """SIGTERM to the server's process group, then SIGKILL if it has not ended in time."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass


@pytest.fixture
def dagster_ui(tmp_path, monkeypatch):
    """A fresh instance with the smoke data assets materialized by the CLI (``matassets data``, a run
    of the named ``data_job``), served by ``matassets ui``."""
    from matassets.cli import main

    home, root = tmp_path / "dagster_home", tmp_path / "project"
    home.mkdir()
    root.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("MATASSETS_ROOT", str(root))
    assert main(["data", "--level", "smoke"]) == 0
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "MATASSETS_ROOT": str(root),
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    log = open(tmp_path / "matassets_ui.log", "w")  # noqa: SIM115 - closed below
    matassets = Path(sys.executable).with_name("matassets")
    proc = subprocess.Popen(
        [str(matassets), "ui", "--port", str(port)],
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
            assert proc.poll() is None, (tmp_path / "matassets_ui.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(base + "/server_info", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "matassets ui did not answer within 120 s"
            time.sleep(1)
        yield base, root, tmp_path / "matassets_ui.log"
    finally:
        _stop(proc)
        log.close()


def test_asset_graph_partitions_and_a_materialization_from_the_ui(dagster_ui):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (dev extra) missing")
    executable = _chromium()
    base, root, server_log = dagster_ui
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in [*SHOTS.glob("[0-9][0-9]_*.png"), SHOTS / "failure.png"]:  # this test's own
        old.unlink(missing_ok=True)
    expect = sync_api.expect
    expect.set_options(timeout=30_000)  # a 2-core machine under load draws the graph in over 5 s

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(60_000)
        try:
            # the asset graph: the global lineage shows the groups, each group its assets
            page.goto(base + "/asset-groups")
            skip = page.get_by_role("button", name="Skip")  # a fresh instance's welcome dialog
            try:
                skip.click(timeout=15_000)
            except sync_api.TimeoutError:
                pass
            expect(page.get_by_text("Global asset lineage")).to_be_visible()
            for group in ("data", "phase1"):
                expect(page.get_by_text(group, exact=True).first).to_be_visible()
            page.screenshot(path=SHOTS / "01_global_lineage.png")
            for group, names in (("data", DATA_ASSETS), ("phase1", MODEL_ASSETS)):
                page.goto(f"{base}/locations/{LOCATION}/asset-groups/{group}")
                # every node; the graph grows with each data set and model, and draws slowly under load
                expect(page.get_by_text("6 partitions").first).to_be_visible(timeout=120_000)
                page.screenshot(path=SHOTS / f"02_group_{group}.png")
                page.get_by_text("List", exact=True).first.click()  # a group's graph may not fit
                for name in names:
                    expect(page.get_by_text(name, exact=True).first).to_be_visible()

            # the model asset's six partitions
            page.goto(f"{base}/assets/{MODEL}?view=partitions")
            expect(page.get_by_text("Missing (6)")).to_be_visible()
            for key in PARTITIONS:
                expect(page.get_by_text(key, exact=True).first).to_be_visible()
            page.screenshot(path=SHOTS / "03_partitions.png")

            # launch a smoke materialization from the UI
            page.get_by_role("button", name="Materialize…").first.click()
            dialog = page.locator(".dagster-dialog")
            expect(dialog.get_by_text(f"Launch runs to materialize {MODEL}")).to_be_visible()
            dialog.get_by_text("Select a partition or create one").click()
            page.keyboard.type("smoke")
            page.locator(".dagster-popover").get_by_text("smoke", exact=True).first.click()
            dialog.get_by_text(f"Launch runs to materialize {MODEL}").click()  # close the list
            expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
            page.screenshot(path=SHOTS / "04_launch_dialog.png")
            dialog.get_by_role("button", name="Launch 1 run").click()
            # the transient "Materializing (1)" banner can come and go within Playwright's 5 s
            # expect window on a loaded machine; the run's success below is what proves the launch
            expect(dialog).to_be_hidden(timeout=30_000)

            # wait for the run to succeed (the page polls; reload to be sure); the run's status is read
            # from the instance, since a loaded machine can leave a page blank for a while
            events = f"{base}/assets/{MODEL}?view=events&partition=smoke"
            done = page.get_by_text("materialized in run")
            deadline = time.monotonic() + 420
            while True:
                page.goto(events)
                try:
                    expect(done).to_be_visible(timeout=15_000)
                    break
                except AssertionError:
                    assert not _failed_runs(), "the run failed:\n" + server_log.read_text()[-3000:]
                    assert time.monotonic() < deadline, "no materialization within 420 s"

            # the materialization's metadata: metrics table and the plots
            metadata = page.locator("table").filter(has_text="val baseline MAD").first
            for text in ("metrics", "val MAE", "test MAE", "mae", "baseline_mad", "mad_mae_ratio"):
                expect(metadata.get_by_text(text, exact=True).first).to_be_visible()
            for split in ("train", "val", "test"):
                expect(metadata.get_by_text(split, exact=True).first).to_be_visible()
            for text in ("model path", "preset", "data_hash", "split_hash", "published references"):
                expect(metadata.get_by_text(text, exact=True).first).to_be_visible()
            page.screenshot(path=SHOTS / "05_materialization.png", full_page=True)
            # the plots are drawn on the page, no click: short links to matassets ui's route
            for plot in ("parity", "learning curve", "training elements"):
                row = page.locator("tr", has=page.get_by_text(plot, exact=True))
                image = row.locator("img")
                expect(image).to_be_visible()
                assert image.get_attribute("src").startswith("/matassets/files/models/")
                image.scroll_into_view_if_needed()
                page.wait_for_function("e => e.complete && e.naturalWidth > 0", arg=image.element_handle())
                width, height = image.evaluate("e => [e.naturalWidth, e.naturalHeight]")
                assert width > 200 and height > 200  # a decoded PNG, not a broken image
                assert row.get_by_text("[Show Markdown]").count() == 0
                page.screenshot(path=SHOTS / f"06_{plot.replace(' ', '_')}.png")

            # the key numbers are float metadata (numbers, not text), beside the plots
            for label in ("test MAE formation_energy (eV/atom)", "ratio to baseline formation_energy"):
                expect(metadata.get_by_text(label, exact=True).first).to_be_visible()

            # the CLI's run is named by its job (not __ephemeral_asset_job__), in Runs and the Overview
            page.goto(base + "/runs")
            expect(page.get_by_text("data_job", exact=True).first).to_be_visible()
            page.screenshot(path=SHOTS / "07_runs_named_by_job.png")
            # the Overview timeline draws a row per job of each code location: the CLI's run carries
            # the location's origin (cli/_location.py), so data_job has its row beside the UI's run
            page.goto(base + "/overview/activity/timeline")
            expect(page.get_by_text(LOCATION, exact=True).first).to_be_visible()
            expect(page.get_by_text("data_job", exact=True).first).to_be_visible()
            page.screenshot(path=SHOTS / "08_overview_timeline.png")

            # the Launchpad offers a preset field's choices and refuses another before a run starts
            page.goto(f"{base}/locations/{LOCATION}/jobs/phase1_job/playground")
            page.locator(".CodeMirror").first.click()
            page.keyboard.press("Control+A")
            page.keyboard.type(f"ops:\n  {MODEL}:\n    config:\n      device: ")
            page.keyboard.press("Control+Space")
            hints = page.locator(".CodeMirror-hints")
            for choice in ("auto", "cpu", "cuda"):
                expect(hints.get_by_text(choice, exact=True)).to_be_visible()
            page.screenshot(path=SHOTS / "09_launchpad_choices.png")
            page.keyboard.press("Escape")
            page.keyboard.type("gpu")
            expect(page.get_by_text("not in enum type Device got gpu")).to_be_visible()
            expect(page.get_by_role("button", name="Launch Run")).to_be_disabled()
        except Exception:
            page.screenshot(path=SHOTS / "failure.png", full_page=True)
            raise
        finally:
            browser.close()
    model_dir = root / "models" / MODEL / "smoke"
    assert (model_dir / "metrics.json").exists() and (model_dir / "parity.png").exists()
