"""Shared fixtures: the real embedded data materialized once for the smoke level, in-process."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
# Hypothesis keeps no example database and writes nothing into the checkout: its storage folder (also
# used for caches) goes to a temporary folder, set before hypothesis first looks at it.
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), f"matassets-hypothesis-{os.getuid()}")
)


def _hypothesis_profiles() -> None:
    """``ci`` (the default, and what CI runs): derandomized, a set example count, no database, so a run
    is the same run every time. ``explore`` (HYPOTHESIS_PROFILE=explore): random examples, more of them,
    still no database in the checkout. A test's own ``@settings(max_examples=...)`` takes precedence."""
    from hypothesis import HealthCheck, settings

    common = {"deadline": None, "database": None, "suppress_health_check": [HealthCheck.too_slow]}
    settings.register_profile("ci", derandomize=True, max_examples=50, print_blob=True, **common)
    settings.register_profile("explore", derandomize=False, max_examples=500, **common)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


_hypothesis_profiles()

# Fixtures that train a model: a test that needs one is `slow` (as is a `ui` test: it starts
# `dagster dev` and a browser). Tests that train or start a subprocess by themselves say so with
# @pytest.mark.slow. `make test-fast` runs the rest.
TRAINING_FIXTURES = {
    "phase1_smoke",
    "multitask_smoke",
    "specialist_smoke",
    "smoke_mace",
    "rf_smoke",
    "gnn_smoke",
    "dataset_smoke",
}


_THIS = sys.modules[__name__]


def pytest_collectstart(collector):
    """A sub-folder's conftest.py (deploy/) is imported under the same module name, ``conftest``;
    the test modules' ``from conftest import materialize`` must keep meaning this file."""
    sys.modules["conftest"] = _THIS


# Tests that train by themselves in files whose owners had them open when the marker came in
SLOW_TESTS = {
    "assets/test_phase1.py::test_model_that_cannot_learn_fails_the_baseline_check",
    "assets/test_phase1.py::test_a_candidate_that_fails_its_check_leaves_the_current_model",
    "assets/test_dataset_assets.py::test_a_user_data_set_trains_beside_the_embedded_one",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        name = item.nodeid.removeprefix("matassets_tests/").split("[")[0]
        if item.get_closest_marker("ui") or TRAINING_FIXTURES & set(item.fixturenames) or name in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def _project_root_outside_the_checkout(tmp_path_factory):
    """A test that forgets to name its project root writes into a temporary folder, never into the
    checkout's models/ or data/ (a test that wants a root sets MATASSETS_ROOT itself). Its Dagster
    runs go to a temporary DAGSTER_HOME of this test process, never the checkout's ``.dagster_home``
    (``make test`` runs two pytest workers: they must not share one SQLite instance)."""
    from matassets.cli._common import ensure_telemetry_off

    saved = {name: os.environ.get(name) for name in ("MATASSETS_ROOT", "DAGSTER_HOME")}
    os.environ.setdefault("MATASSETS_ROOT", str(tmp_path_factory.mktemp("default_root")))
    home = tmp_path_factory.mktemp("dagster_home")
    ensure_telemetry_off(home)
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def materialize(assets, root: Path, partition: str = "smoke", run_config: dict | None = None, instance=None):
    import dagster as dg

    from matassets.assets.resources import ProjectResource

    return dg.materialize(
        assets,
        partition_key=partition,
        run_config=run_config or {},
        resources={"project": ProjectResource(root=str(root))},
        raise_on_error=False,
        instance=instance,
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
    """Every file under ``folder`` (by its path relative to it) with its modification time and bytes
    (to show nothing was rewritten)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def embedded_state(root: Path) -> dict:
    """``folder_state`` of the embedded set's data and models in ``root``: every file of its
    ``data/`` and ``models/`` but a registered data set's (``data/datasets/``, ``models/datasets/``)."""
    state = folder_state(root / "data") | {f"models/{k}": v for k, v in folder_state(root / "models").items()}
    return {k: v for k, v in state.items() if not k.startswith(("datasets/", "models/datasets/"))}


def data_and_cgcnn(assets: list) -> list:
    """A registered data set's data assets and its CGCNNs (of ``dataset_assets``): what the tests of
    a data set's formats and sizes train; its specialist and forest train in
    test_dataset_specialist.py and test_dataset_forest.py (the suite pays for them once)."""
    data = ("raw_structures", "structures", "splits", "crystal_graphs")
    return [a for a in assets if a.key.path[-1] in data or a.key.path[-1].startswith("cgcnn_")]


def member_predictions(model, ids: list[str], structures: list):
    """Every ensemble member's prediction alone, (members, structures), first task: each member
    loaded as a one-model folder (``inference.predict.LoadedModel``)."""
    import numpy as np

    from matassets.inference.predict import LoadedModel

    out = []
    for member in model.members:
        single = LoadedModel(member, model.config, model.objective)
        out.append(single.predict_structures(ids, structures)[:, 0])
    return np.array(out)


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


@pytest.fixture(scope="session")
def multitask_smoke(smoke_root):
    """multitask_e3nn materialized at smoke with the default property group."""
    from matassets.assets.phase2 import multitask_e3nn

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MATASSETS_THREADS", "1")  # the test machine's cores are shared
        result = materialize([multitask_e3nn], smoke_root)
    assert result.success
    return result


@pytest.fixture(scope="session")
def specialist_smoke(smoke_root, multitask_smoke):
    """specialist_formation_energy materialized at smoke, warm-started from ``multitask_smoke``."""
    from matassets.assets.phase3_specialist import specialist_asset

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MATASSETS_THREADS", "1")
        result = materialize([specialist_asset("formation_energy")], smoke_root)
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


def cif_dataset(folder: Path, rows: list[dict], columns: dict) -> Path:
    """Real embedded structures (rows of ``load_embedded``) written as CIF files into ``folder``,
    with a ``targets.csv`` of ``columns`` (column name -> the row's value): a user's data set."""
    from matassets.data.parsing import parse_structure

    folder.mkdir(parents=True, exist_ok=True)
    lines = [",".join(["file", *columns])]
    for row in rows:
        (folder / f"{row['id']}.cif").write_text(
            parse_structure(row["structure"], "pymatgen_json").to(fmt="cif")
        )
        lines.append(",".join([row["id"], *(str(value(row)) for value in columns.values())]))
    (folder / "targets.csv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="session")
def dataset_smoke(tmp_path_factory) -> Path:
    """A project root with data set ``tiny`` registered from 120 real embedded structures written as
    CIF files, their formation energy under a name the platform has never seen (``e_form``,
    eV/atom), and its assets materialized through Dagster at smoke: data, splits, graphs and a
    promoted CGCNN in ``models/datasets/tiny/cgcnn_e_form/smoke/`` (the other families' models,
    ``tiny/forest_e_form`` and ``tiny/specialist_e_form``, are left untrained). Copy it before
    changing it."""
    import polars as pl

    from matassets import datasets
    from matassets.assets.datasets import dataset_assets
    from matassets.data.embedded import load_embedded
    from matassets.families import dataset_models

    root = tmp_path_factory.mktemp("dataset_smoke")
    rows = load_embedded().filter(pl.col("formation_energy").is_not_null()).head(120).to_dicts()
    cif_dataset(root / "cifs", rows, {"e_form": lambda r: r["formation_energy"]})
    datasets.add("tiny", root / "cifs", ["e_form:eV/atom"], root=root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MATASSETS_THREADS", "1")
        untrained = {m.asset for m in dataset_models(datasets.get("tiny", root))} - {"cgcnn_e_form"}
        assets = [a for a in dataset_assets("tiny", root) if a.key.path[-1] not in untrained]
        result = materialize(assets, root)
    assert result.success
    return root
