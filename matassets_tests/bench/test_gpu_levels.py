"""The GPU script (bench.gpu.levels) runs its whole path at smoke on the CPU with only what a lent
GPU machine would have: every import of a distribution that is neither on the device image
(bench/gpu/image_packages.txt) nor carried (bench.gpu.bundle.CARRIED) fails, in the script and in
every Python it starts (the CLI, MACE's trainer), as it would there."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.gpu.bundle import CARRIED, image_packages, normalise

ROOT = Path(__file__).resolve().parents[2]
BLOCKER = """
import importlib.abc, importlib.machinery, importlib.metadata, sys
allowed = set({allowed!r})
blocked = {{top for top, dists in importlib.metadata.packages_distributions().items()
           if not any(d.lower().replace("_", "-").replace(".", "-") in allowed for d in dists)}}
blocked -= set(sys.stdlib_module_names)
class Hidden(importlib.abc.MetaPathFinder):  # the path finder, blind to the blocked packages
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            with open({log!r}, "a") as f:
                f.write(name + "\\n")
            return None
        return importlib.machinery.PathFinder.find_spec(name, path, target)
    def invalidate_caches(self):
        importlib.machinery.PathFinder.invalidate_caches()
sys.meta_path[:] = [Hidden() if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
"""


def test_without_a_gpu_a_cuda_run_stops_before_installing_anything(tmp_path, capsys):
    import torch

    from bench.gpu.levels import main

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["--out", str(tmp_path / "out"), "--bundle", str(tmp_path / "no-bundle")]) == 2
    assert "device=cuda: torch" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_every_carried_distribution_is_pinned_here_and_absent_from_the_image():
    from importlib import metadata

    assert all(metadata.version(name) for name in CARRIED)  # the bundle takes this environment's pins
    on_image = {normalise(n) for n in CARRIED} & image_packages()
    assert on_image == {"e3nn"}  # the image's e3nn is replaced by mace-torch's pin


@pytest.mark.slow  # three smoke trainings through the CLI (about a minute)
def test_the_gpu_script_trains_and_reports_with_only_the_image_and_the_bundle(tmp_path):
    hidden = tmp_path / "hidden.txt"
    allowed = image_packages() | {normalise(n) for n in CARRIED} | {"matassets"}
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER.format(allowed=sorted(allowed), log=str(hidden)))
    env = os.environ | {"PYTHONPATH": f"{site}{os.pathsep}{ROOT}", "MATASSETS_THREADS": "1"}
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "bench.gpu.levels", "--level", "smoke", "--device", "cpu"]
    cmd += ["--cgcnn-budget-s", "3", "--mace-epochs", "2", "--out", str(out), "--root", str(tmp_path / "r")]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    logs = "\n".join(p.read_text()[-1500:] for p in sorted(out.glob("*.log")))
    assert done.returncode == 0, done.stderr[-3000:] + logs
    assert hidden.exists()  # the blocker was active in the children (their optional imports met it)
    report = json.loads((out / "gpu_levels.json").read_text())
    assets = ["cgcnn_formation_energy", "cgcnn_band_gap", "mace_potential"]
    assert [r["asset"] for r in report["runs"]] == assets
    for r in report["runs"]:
        assert r["rc"] == 0 and r["model"]["device"] == "cpu" and r["model"]["overrides"]["device"] == "cpu"
        assert r["model"]["metrics"]["test"]
    assert report["runs"][0]["model"]["overrides"]["time_budget_s"] == 3
    assert report["runs"][2]["model"]["overrides"]["epochs"] == 2
    assert "mace_potential" in (out / "leaderboard.txt").read_text()
