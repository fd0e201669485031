"""Shared fixtures: the real embedded data materialized once for the smoke level, in-process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


def materialize(assets, root: Path, partition: str = "smoke", run_config: dict | None = None):
    import dagster as dg

    from matassets.assets.resources import ProjectResource

    return dg.materialize(
        assets,
        partition_key=partition,
        run_config=run_config or {},
        resources={"project": ProjectResource(root=str(root))},
        raise_on_error=False,
    )


def trained_models() -> set[str]:
    """Every asset that trains a model: a phase's asset (not the data group's graphs) of kind
    pytorch or scikit-learn, from the definitions."""
    from matassets.definitions import defs

    graph = defs.resolve_asset_graph()
    return {
        k.to_user_string()
        for k in graph.get_all_asset_keys()
        if (graph.get(k).group_name or "").startswith("phase")
        and graph.get(k).kinds & {"pytorch", "scikitlearn"}
    }


def folder_state(folder: Path) -> dict:
    """Every file of ``folder`` with its modification time and bytes (to show nothing was rewritten)."""
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.iterdir())}


@pytest.fixture(scope="session")
def smoke_root(tmp_path_factory) -> Path:
    """A project root whose smoke data assets are materialized from the embedded snapshot."""
    from matassets.assets.data import crystal_graphs, raw_structures, splits, structures

    root = tmp_path_factory.mktemp("smoke")
    result = materialize([raw_structures, structures, splits, crystal_graphs], root)
    assert result.success
    return root


@pytest.fixture(scope="session")
def phase1_smoke(smoke_root: Path):
    """cgcnn_formation_energy trained at smoke on the materialized data; returns the run result."""
    from matassets.assets.phase1 import cgcnn_asset

    result = materialize([cgcnn_asset("formation_energy")], smoke_root)
    assert result.success
    return result


@pytest.fixture
def smoke_copy(smoke_root: Path, tmp_path: Path) -> Path:
    """A private copy of the smoke data (not the models), for tests that write model folders of
    their own and must not leave them in the shared root."""
    import shutil

    shutil.copytree(smoke_root / "data", tmp_path / "data")
    return tmp_path


def git(root: Path, *args: str) -> str:
    import subprocess

    out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return out.stdout


def dvc_project(source: Path, root: Path) -> Path:
    """A copy of ``source`` (data and models) as a fresh git + DVC repository with the project's DVC
    set-up (dvc.yaml, config, the embedded snapshot), committed to git: the asset hooks commit to DVC."""
    import shutil

    from matassets.paths import PROJECT_ROOT

    shutil.copytree(source, root)
    embedded = "data/embedded/mp_matminer_joined.json.gz"
    (root / embedded).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(PROJECT_ROOT / embedded, root / embedded)
    for name in ("dvc.yaml", ".dvcignore", ".dvc/config", ".dvc/.gitignore"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, root / name)
    (root / ".gitignore").write_text("/.dvc-remote/\n")
    git(root, "init", "-q")
    git(root, "config", "user.email", "test@example.org")
    git(root, "config", "user.name", "test")
    git(root, "add", "dvc.yaml", ".dvcignore", ".dvc/config", ".dvc/.gitignore", ".gitignore", embedded)
    git(root, "commit", "-q", "-m", "project")
    return root
