"""A newcomer's first hour (issue #21), as a test: the commands README.md and docs/getting-started.md
document, run in their order at the smoke level from this checkout's installed venv (the
``matassets`` script beside the interpreter running the tests), in a temporary project root and
DAGSTER_HOME. Each is asserted on its exit code and on the line a person reads to know it worked.

Every command is first looked up in the two documents, so a command the docs no longer show, or
show differently, fails here rather than in a newcomer's terminal.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from matassets.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow

DOCS = ("README.md", "docs/getting-started.md")

# (documented command after `.venv/bin/matassets`, exit code, a regex for the key line of its output)
FIRST_HOUR = [
    ("check-env", 0, r"^\d+ checks: 0 failed"),
    (
        "run phase1 --level smoke --property formation_energy --dry-run",
        0,
        r"^job: phase1_job$",
    ),
    (
        "run phase1 --level smoke --property formation_energy",
        0,
        r"^run \S+ of job phase1_job \[smoke\]: succeeded$",
    ),
    ("materialize --asset model_leaderboard", 0, r"^run \S+ of job \S+: succeeded$"),
    (
        "summary --level smoke",
        0,
        r"^model cgcnn_formation_energy: test formation_energy: MAE [\d.e-]+ eV/atom vs baseline "
        r"[\d.e-]+ eV/atom",
    ),
    (
        "leaderboard --partition smoke",
        0,
        r"^\| formation_energy \| cgcnn_formation_energy \| smoke \| MAE \|",
    ),
    (
        "predict --model cgcnn_formation_energy --level smoke my.cif",
        0,
        r'^\{"file": "my.cif", "formula": "NaCl", "formation_energy"',
    ),
    ("handoff --level smoke", 0, r"^# Handoff: 1 run\(s\), level smoke$"),
]


def documented(command: str) -> bool:
    """``command`` appears in a doc, as written or with the doc's level and example files."""
    text = "\n".join((PROJECT_ROOT / d).read_text(encoding="utf-8") for d in DOCS)
    if f"matassets {command}" in text:
        return True
    pattern = re.escape(f"matassets {command}").replace("smoke", r"\w+").replace(r"my\.cif", r"my\.cif[^\n]*")
    return re.search(pattern, text) is not None


def test_every_first_hour_command_is_documented():
    missing = [c for c, _, _ in FIRST_HOUR if not documented(c)]
    assert not missing, f"not in {DOCS}: {missing}"
    make_demo = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    for command in (
        "run phase1 --level smoke",
        "materialize --asset model_leaderboard",
        "summary --level smoke",
    ):
        assert f"$(BIN)/matassets {command}" in make_demo


def test_a_newcomers_first_hour_at_smoke(tmp_path):
    script = Path(sys.executable).with_name("matassets")
    assert script.exists(), f"no installed matassets script beside {sys.executable}"
    root, home = tmp_path / "project", tmp_path / "dagster_home"
    root.mkdir()
    env = {
        **os.environ,
        "MATASSETS_ROOT": str(root),
        "DAGSTER_HOME": str(home),
        "MATASSETS_THREADS": os.environ.get("MATASSETS_THREADS", "1"),
    }
    _write_cif(tmp_path / "my.cif")
    transcript = []
    for command, code, key in FIRST_HOUR:
        proc = subprocess.run(
            [str(script), *command.split()],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        out = proc.stdout + proc.stderr
        transcript.append(f"$ matassets {command}  (exit {proc.returncode})\n{out[-1500:]}")
        assert proc.returncode == code, "\n".join(transcript)
        assert re.search(key, proc.stdout, re.M), f"no line matching {key!r}:\n" + transcript[-1]
        if command.startswith("run ") and "--dry-run" not in command:
            assert " - DEBUG - " not in out  # progress and results at INFO, no Dagster DEBUG lines
            assert f"  cgcnn_formation_energy [smoke]: {root / 'models/cgcnn_formation_energy/smoke'}" in out
            assert "    checks: beats_mean_baseline passed" in out
    prediction = json.loads(transcript[-2].splitlines()[1])
    assert isinstance(prediction["formation_energy"], float)


def _write_cif(path: Path) -> None:
    """A rock-salt NaCl cell (a = 5.64 Å), written by pymatgen."""
    from pymatgen.core import Lattice, Structure

    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    nacl.to(filename=str(path))
