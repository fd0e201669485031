"""DVC in step with the assets: dvc.yaml mirrors the asset graph, and a materialization in a git + DVC
repository is committed, restorable bit-identical, and its DVC hash is the Dagster data version."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import dvc_project, git, materialize

from matassets.paths import PROJECT_ROOT, Layout
from matassets.versioning import (
    LEVEL,
    SOURCE_DEPS,
    AssetFiles,
    build_stages,
    dvc_md5,
    lock_hashes,
    outs_for,
    record,
    render_dvc_yaml,
    run_dvc,
    stage_outs,
)

SMOKE_STAGES = ["raw_structures", "structures", "splits", "crystal_graphs", "cgcnn_formation_energy"]


def committed_stages() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def test_committed_dvc_yaml_is_generated_from_the_current_asset_graph():
    from matassets.cli.versions import dvc_yaml_text

    assert (PROJECT_ROOT / "dvc.yaml").read_text(encoding="utf-8") == dvc_yaml_text(), (
        "dvc.yaml is out of date with the asset graph: run `matassets dvc-yaml` and commit it"
    )


def test_dvc_yaml_is_written_where_the_data_sets_are(tmp_path, monkeypatch):
    """With ``MATASSETS_ROOT`` elsewhere, ``matassets dvc-yaml`` writes ``$MATASSETS_ROOT/dvc.yaml``
    (the file ``lineage`` and the DVC hooks read there), with that root's data set's stages; the
    checkout's dvc.yaml is left alone."""
    from conftest import cif_dataset

    from matassets.cli import main
    from matassets.data.embedded import load_embedded

    checkout = (PROJECT_ROOT / "dvc.yaml").read_bytes()
    monkeypatch.setenv("MATASSETS_ROOT", str(tmp_path / "root"))
    rows = load_embedded().head(5).to_dicts()
    folder = cif_dataset(tmp_path / "cifs", rows, {"e_form": lambda r: r["formation_energy"]})
    assert main(["dataset", "add", "mine", str(folder), "--property", "e_form:eV/atom"]) == 0
    assert main(["dvc-yaml"]) == 0
    stages = yaml.safe_load((tmp_path / "root" / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    assert "mine-cgcnn_e_form" in stages
    assert (PROJECT_ROOT / "dvc.yaml").read_bytes() == checkout


def test_dvc_yaml_and_the_asset_graph_have_the_same_outputs_and_dependencies():
    from matassets.cli._common import asset_infos
    from matassets.cli.versions import _plain
    from matassets.levels import PARTITIONS

    infos = asset_infos()
    stages = committed_stages()
    template = Layout(Path(""))

    def declared(name: str, key: str) -> list[str] | None:
        value = infos[name].metadata.get(key)
        return None if value is None else [v.replace("{partition}", LEVEL) for v in _plain(value)]

    def outs(name: str) -> list[str]:
        explicit = declared(name, "dvc_outs")
        return explicit if explicit is not None else [p.as_posix() for p in outs_for(template, name, LEVEL)]

    assert set(stages) <= set(infos), "a stage for an asset that does not exist"
    for name, info in infos.items():
        if not outs(name):
            assert name not in stages  # opted out (dvc_outs: []): writes no files
            continue
        stage = stages[name]
        assert stage["matrix"] == {"level": list(PARTITIONS)}
        assert stage["cmd"] == f"matassets materialize --asset {name} --level {LEVEL}"
        assert stage["outs"] == outs(name)
        sources = declared(name, "dvc_deps") or SOURCE_DEPS.get(name, [])
        upstream = {d for parent in info.parents for d in outs(parent)}
        assert set(stage.get("deps", [])) == upstream | set(sources), name


def test_every_file_producing_asset_calls_the_dvc_hook():
    """Each asset with a dvc.yaml stage hands its result to ``versioned`` (dvc.lock stays in step)."""
    import inspect

    from matassets.definitions import defs

    stages = committed_stages()
    missing = []
    for assets_def in defs.assets:
        names = {k.to_user_string() for k in assets_def.keys}
        if names & set(stages):
            source = inspect.getsource(assets_def.op.compute_fn.decorated_fn)
            # promote_if_passed (assets/common.py) calls versioned once a candidate passes its checks
            if (
                "versioned(context, project," not in source
                and "promote_if_passed(context, project," not in source
            ):
                missing += sorted(names)
    assert not missing, (
        f"{missing}: yield versioned(context, project, result) (matassets/assets/common.py) "
        "after writing the files"
    )


def test_every_file_the_smoke_assets_wrote_is_an_output_of_a_stage(smoke_root, phase1_smoke):
    """Outputs match the files on disk: each exists, and nothing under data/ or models/ is untracked."""
    root = smoke_root
    stages = committed_stages()

    def smoke_outs(name: str) -> list[str]:
        return [o.replace(LEVEL, "smoke") for o in stages[name]["outs"]]

    tracked = [root / o for name in stages for o in smoke_outs(name)]
    for name in SMOKE_STAGES:
        for out in smoke_outs(name):
            assert (root / out).exists(), f"{name}: dvc.yaml lists {out} but the asset did not write it"
    # every file under data/, and under models/<asset>/ for the assets of the graph (other tests train
    # stand-alone models into this shared root); hidden folders (.work/: locks, staging) are working
    # state, and tuning/ and candidates/ hold candidates, neither of them a version of an asset; a
    # model's <level>.history.jsonl lists its versions and is kept in git (.gitignore), not DVC
    folders = [root / "data", *(root / "models" / name for name in stages)]
    written = [
        p
        for top in folders
        for p in top.rglob("*")
        if p.is_file()
        and not p.name.endswith(".history.jsonl")
        and not any(
            part.startswith(".") or part in ("tuning", "candidates") for part in p.relative_to(root).parts
        )
    ]
    assert written
    outside = [p for p in written if not any(p == t or t in p.parents for t in tracked)]
    assert not outside, f"files no dvc.yaml stage tracks: {outside}"


@pytest.mark.slow
def test_versioning_needs_neither_dagster_nor_torch():
    import sys

    code = (
        "import sys, matassets.versioning; print(sorted(m for m in ('dagster', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_dvc_files_are_parsed_again_whenever_their_content_changes(tmp_path):
    """``read_yaml`` parses a dvc.yaml once per content: a rewrite of the same size in the same
    instant (same inode, same mtime) is still seen."""
    import os

    from matassets.versioning import read_yaml, stage_outs

    path = tmp_path / "dvc.yaml"
    path.write_text("stages:\n  a:\n    outs: [x/a]\n")
    stat = path.stat()
    assert stage_outs(tmp_path, "a", "smoke") == ["x/a"]
    path.write_text("stages:\n  b:\n    outs: [x/b]\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert stage_outs(tmp_path, "a", "smoke") is None
    assert read_yaml(path)["stages"] == {"b": {"outs": ["x/b"]}}


def test_stage_building_unit_cases_synthetic_graph():
    """Synthetic asset graph (unit test): declared outputs, an opt-out, unpartitioned and sources."""
    graph = [
        AssetFiles("raw_structures"),
        AssetFiles("model_a", upstream=("raw_structures",)),
        AssetFiles("db", declared_outs=("data/db/{partition}/x.db",), declared_deps=("data/src",)),
        AssetFiles("model_b", upstream=("db", "report")),
        AssetFiles("report", declared_outs=()),
        AssetFiles("global", partitioned=False),
    ]
    stages = {s.name: s for s in build_stages(graph)}
    assert list(stages) == ["raw_structures", "model_a", "db", "model_b"]
    assert stages["raw_structures"].deps == SOURCE_DEPS["raw_structures"]
    assert stages["model_a"].outs == [f"models/model_a/{LEVEL}"]
    assert stages["model_a"].deps == [
        f"data/raw/{LEVEL}/raw_structures.parquet",
        f"data/raw/{LEVEL}/files.sha256",
    ]
    assert stages["db"].outs == [f"data/db/{LEVEL}/x.db"] and stages["db"].deps == ["data/src"]
    assert stages["model_b"].deps == [f"data/db/{LEVEL}/x.db"]
    text = render_dvc_yaml(stages.values())
    assert yaml.safe_load(text)["stages"]["model_b"]["cmd"].endswith(f"--asset model_b --level {LEVEL}")


# ---------------------------------------------------------------- a temporary git + DVC repository


@pytest.fixture(scope="module")
def repo(tmp_path_factory, smoke_root, phase1_smoke) -> Path:
    """The smoke data and model in a fresh git + DVC repository with the project's DVC set-up."""
    return dvc_project(smoke_root, tmp_path_factory.mktemp("dvcrepo") / "repo")


def test_commit_restore_push_pull_and_previous_version(repo, monkeypatch):
    from matassets.assets.phase1 import cgcnn_asset
    from matassets.cli import main

    # 1. the hook commits a stage; its hash is DVC's hash of the outputs (one or several)
    run_dvc(
        repo, "commit", "--force", "--quiet", "raw_structures@smoke", "splits@smoke", "crystal_graphs@smoke"
    )
    versions = {name: record(repo, name, "smoke") for name in ("structures", "cgcnn_formation_energy")}
    model_stage = "cgcnn_formation_energy@smoke"
    model_dir = Layout(repo).model_dir("cgcnn_formation_energy", "smoke")
    assert (
        versions["cgcnn_formation_energy"]
        == dvc_md5(model_dir)
        == lock_hashes(repo, model_stage)["models/cgcnn_formation_energy/smoke"]
    )
    assert versions["cgcnn_formation_energy"].endswith(".dir")
    structures_outs = stage_outs(repo, "structures", "smoke")
    assert structures_outs == [
        "data/structures/smoke/structures.parquet",
        "data/structures/smoke/quarantine.parquet",
        "data/structures/smoke/files.sha256",  # the tables' hashes travel with them
    ]
    assert set(lock_hashes(repo, "structures@smoke")) == set(structures_outs)
    monkeypatch.setenv("DVC_STAGE", model_stage)  # inside `dvc repro`: hash without committing
    assert record(repo, "cgcnn_formation_energy", "smoke") == versions["cgcnn_formation_energy"]
    monkeypatch.delenv("DVC_STAGE")
    git(repo, "add", "dvc.lock")
    git(repo, "commit", "-q", "-m", "smoke data and model")
    targets = [f"{name}@smoke" for name in SMOKE_STAGES]
    assert json.loads(run_dvc(repo, "status", "--json", *targets).stdout) == {}

    # 2. delete a model file: dvc checkout restores it bit-identical
    weights = model_dir / "model.pt"
    original = weights.read_bytes()
    weights.unlink()
    assert json.loads(run_dvc(repo, "status", "--json", model_stage).stdout) != {}
    run_dvc(repo, "checkout", model_stage)
    assert weights.read_bytes() == original

    # 3. push to the default local remote, lose cache and file, pull them back
    monkeypatch.setenv("MATASSETS_ROOT", str(repo))
    assert main(["push", "--level", "smoke"]) == 0
    assert (repo / ".dvc-remote" / "files" / "md5").is_dir()
    shutil.rmtree(repo / ".dvc" / "cache")
    weights.unlink()
    assert main(["pull", "--level", "smoke"]) == 0  # every stage@smoke, some never committed
    assert weights.read_bytes() == original

    # 4. re-materialize with a change through Dagster: the DVC hash is the data version, lock in step
    result = materialize(
        [cgcnn_asset("formation_energy")],
        repo,
        run_config={"ops": {"cgcnn_formation_energy": {"config": {"epochs": 1}}}},
    )
    assert result.success
    event = result.get_asset_materialization_events()[0].materialization
    new_version = lock_hashes(repo, model_stage)["models/cgcnn_formation_energy/smoke"]
    assert new_version != versions["cgcnn_formation_energy"]
    assert event.tags["dagster/data_version"] == new_version
    assert event.metadata["dvc_md5"].value == new_version
    assert weights.read_bytes() != original
    assert json.loads(run_dvc(repo, "status", "--json", model_stage).stdout) == {}

    # 5. the previous version is still restorable from its git commit
    git(repo, "checkout", "-q", "HEAD", "--", "dvc.lock")
    run_dvc(repo, "checkout", "--force", model_stage)
    assert weights.read_bytes() == original
    assert dvc_md5(model_dir) == versions["cgcnn_formation_energy"]


def test_a_data_set_s_assets_get_valid_stages_and_commit_beside_the_embedded_ones(
    dataset_smoke, tmp_path, monkeypatch
):
    """A registered data set's assets ``D/x`` are stages ``D-x`` (DVC allows no ``/``) over D's own
    folders; materializing them in a git + DVC project commits D's data and model to DVC and
    restores them bit-identical, and the embedded set's stages and dvc.lock entries are untouched."""
    from matassets.assets.datasets import dataset_assets
    from matassets.cli import main

    repo = dvc_project(dataset_smoke, tmp_path / "repo")
    monkeypatch.setenv("MATASSETS_ROOT", str(repo))
    assert main(["dvc-yaml", "--out", str(repo / "dvc.yaml")]) == 0
    stages = yaml.safe_load((repo / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    embedded = committed_stages()
    assert {name: stages[name] for name in embedded} == embedded  # the embedded set's, unchanged
    mine = {name: stage for name, stage in stages.items() if name not in embedded}
    assert {
        "tiny-raw_structures",
        "tiny-structures",
        "tiny-splits",
        "tiny-crystal_graphs",
        "tiny-cgcnn_e_form",
    } <= set(mine)
    assert all(name.startswith("tiny-") for name in mine)
    assert all(
        o.startswith(("data/datasets/tiny/", "models/datasets/tiny/"))
        for s in mine.values()
        for o in s["outs"]
    )
    model_stage = mine["tiny-cgcnn_e_form"]
    assert model_stage["cmd"] == f"matassets materialize --asset tiny/cgcnn_e_form --level {LEVEL}"
    assert model_stage["outs"] == [f"models/datasets/tiny/cgcnn_e_form/{LEVEL}"]
    assert mine["tiny-raw_structures"]["deps"] == ["data/datasets/tiny/table.parquet"]
    git(repo, "add", "dvc.yaml", "data/datasets/tiny/table.parquet", "data/datasets/tiny/manifest.json")
    git(repo, "commit", "-q", "-m", "data set tiny")

    # through Dagster: the unchanged model is reused and committed like the embedded set's models
    # its data and its CGCNN (dataset_smoke trained no other model: a specialist or forest here would
    # train from scratch, which this test does not judge)
    wanted = ("raw_structures", "structures", "splits", "crystal_graphs", "cgcnn_e_form")
    result = materialize([a for a in dataset_assets("tiny", repo) if a.key.path[-1] in wanted], repo)
    assert result.success
    lock = yaml.safe_load((repo / "dvc.lock").read_text(encoding="utf-8"))["stages"]
    assert {"tiny-structures@smoke", "tiny-cgcnn_e_form@smoke"} <= set(lock)
    assert all(name.startswith("tiny-") for name in lock)  # nothing of the embedded set's entries
    model_dir = Layout(repo).for_dataset("tiny").model_dir("cgcnn_e_form", "smoke")
    version = lock["tiny-cgcnn_e_form@smoke"]["outs"][0]["md5"]
    assert version == dvc_md5(model_dir) == record(repo, "tiny/cgcnn_e_form", "smoke")
    events = {
        e.asset_key.to_user_string(): e.materialization for e in result.get_asset_materialization_events()
    }
    assert events["tiny/cgcnn_e_form"].metadata["dvc_md5"].value == version
    assert json.loads(run_dvc(repo, "status", "--json", "tiny-cgcnn_e_form@smoke").stdout) == {}

    weights = model_dir / "model.pt"
    original = weights.read_bytes()
    weights.unlink()
    run_dvc(repo, "checkout", "tiny-cgcnn_e_form@smoke")
    assert weights.read_bytes() == original


@pytest.mark.parametrize("dataset", [None, "my_alloys"])
def test_a_model_s_history_is_kept_in_git_and_its_folder_is_not(dataset) -> None:
    """The checkout's .gitignore: a model folder (a DVC output) is ignored, its
    ``<level>.history.jsonl`` beside it is not, for the embedded set and a registered data set."""
    layout = Layout(PROJECT_ROOT) if dataset is None else Layout(PROJECT_ROOT).for_dataset(dataset)

    def ignored(path: Path) -> bool:
        relative = path.relative_to(PROJECT_ROOT).as_posix()
        check = subprocess.run(["git", "check-ignore", "--no-index", "-q", relative], cwd=PROJECT_ROOT)
        return check.returncode == 0

    assert not ignored(layout.model_history("cgcnn_h_mix", "std"))
    assert ignored(layout.model_dir("cgcnn_h_mix", "std") / "model.pt")
    assert ignored(layout.model_work_dir("cgcnn_h_mix", "std") / "checkpoint.pt")
