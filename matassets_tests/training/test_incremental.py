"""Re-materializing a model whose inputs and code are unchanged reuses its folder; a new preset,
``force`` or a code change retrains, and a tuning candidate is never mistaken for the current model."""

import json

import pytest
from conftest import dvc_project, folder_state, materialize

from matassets.assets.phase1 import cgcnn_asset
from matassets.paths import Layout
from matassets.training.incremental import code_version, source_hash

NAME = "cgcnn_formation_energy"


def metadata(result) -> dict:
    return result.get_asset_materialization_events()[0].materialization.metadata


def config(**fields) -> dict:
    return {"ops": {NAME: {"config": fields}}}


@pytest.mark.slow
def test_unchanged_rematerialization_is_skipped_a_new_preset_or_force_retrains(smoke_copy):
    asset = cgcnn_asset("formation_energy")
    folder = Layout(smoke_copy).model_dir(NAME, "smoke")
    first = materialize([asset], smoke_copy)
    assert first.success and "training" not in metadata(first)
    trained = folder_state(folder)
    record = json.loads((folder / "run_record.json").read_text())
    assert record["code_version"] == code_version() and len(record["input_key"]) == 16

    again = materialize([asset], smoke_copy)
    assert again.success
    assert folder_state(folder) == trained  # not one byte or time stamp changed
    meta = metadata(again)
    assert meta.pop("training").value.startswith("up to date, training skipped")
    assert meta == metadata(first)  # the same materialization: metrics, plots, hashes, duration
    assert again.get_asset_check_evaluations()[0].passed

    changed = materialize([asset], smoke_copy, run_config=config(lr=0.002))
    assert changed.success and "training" not in metadata(changed)
    retrained = folder_state(folder)
    assert retrained["model.pt"] != trained["model.pt"]
    assert json.loads((folder / "run_record.json").read_text())["overrides"] == {"lr": 0.002}
    assert "training" in metadata(materialize([asset], smoke_copy, run_config=config(lr=0.002)))

    forced = materialize([asset], smoke_copy, run_config=config(lr=0.002, force=True))
    assert forced.success and "training" not in metadata(forced)
    assert folder_state(folder)["model.pt"][0] != retrained["model.pt"][0]


@pytest.mark.slow
def test_cli_force_retrains_an_up_to_date_model(smoke_copy, monkeypatch):
    from matassets.cli import main

    monkeypatch.setenv("MATASSETS_ROOT", str(smoke_copy))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    folder = Layout(smoke_copy).model_dir(NAME, "smoke")
    argv = ["run", "phase1", "--level", "smoke", "--property", "formation_energy", "--no-data"]
    assert main(argv) == 0
    trained = folder_state(folder)
    assert main(argv) == 0
    assert folder_state(folder) == trained
    assert main([*argv, "--force"]) == 0
    assert folder_state(folder)["model.pt"][0] != trained["model.pt"][0]
    record = json.loads((folder / "run_record.json").read_text())
    assert record["overrides"] == {} and record["options"]["force"] is True  # a run option, recorded


@pytest.mark.slow
def test_a_tuning_candidate_trains_beside_an_up_to_date_current_version(smoke_copy):
    asset = cgcnn_asset("formation_energy")
    layout = Layout(smoke_copy)
    assert materialize([asset], smoke_copy).success
    current = folder_state(layout.model_dir(NAME, "smoke"))
    candidate = materialize([asset], smoke_copy, run_config=config(output_tag="t/round_1"))
    assert candidate.success and "training" not in metadata(candidate)
    assert (layout.tuning_model_dir(NAME, "t/round_1") / "model.pt").is_file()
    assert folder_state(layout.model_dir(NAME, "smoke")) == current


def test_code_version_follows_the_science_code_only(tmp_path):
    """An edit to the UI, the CLI, the reports or the tuning rules retrains nothing; a science edit does."""
    package = tmp_path / "pkg"
    files = {
        "training/loop.py": "STEP = 1\n",
        "graphs/store.py": "SHARD = 4\n",
        "assets/phase1.py": "NAME = 'a'\n",
        "cli/run.py": "HELP = 'a'\n",
        "reports/leaderboard.py": "STAR = '*'\n",
        "automation/tuning/rules.py": "ROUNDS = 3\n",
        "families.py": "ROWS = ()\n",
    }
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    version = source_hash(package)
    for name in (
        "assets/phase1.py",
        "cli/run.py",
        "reports/leaderboard.py",
        "automation/tuning/rules.py",
        "families.py",
    ):
        (package / name).write_text(files[name] + "CHANGED = True\n")
        assert source_hash(package) == version, name
    for name in ("training/loop.py", "graphs/store.py"):
        (package / name).write_text(files[name] + "CHANGED = True\n")
        assert source_hash(package) != version, name
        version = source_hash(package)


@pytest.mark.slow
def test_unchanged_rematerialization_in_a_dvc_project_commits_nothing(smoke_copy, tmp_path):
    """The DVC hook sees dvc.lock already records the folder as it is and runs no dvc commit."""
    from matassets.versioning import committed, lock_hashes, stage_outs

    repo = dvc_project(smoke_copy, tmp_path / "repo")
    asset = cgcnn_asset("formation_energy")
    first = materialize([asset], repo)
    version = metadata(first)["dvc_md5"].value
    lock = (repo / "dvc.lock").stat().st_mtime_ns, (repo / "dvc.lock").read_bytes()
    again = materialize([asset], repo)
    meta = metadata(again)
    assert "training" in meta and meta["dvc_md5"].value == version
    assert again.get_asset_materialization_events()[0].materialization.tags["dagster/data_version"] == version
    assert ((repo / "dvc.lock").stat().st_mtime_ns, (repo / "dvc.lock").read_bytes()) == lock

    stage = f"{NAME}@smoke"
    deps, outs = stage_outs(repo, NAME, "smoke", "deps"), stage_outs(repo, NAME, "smoke")
    assert committed(repo, stage, deps, outs) == lock_hashes(repo, stage)
    manifest = repo / "data/splits/smoke/split_manifest.json"
    manifest.write_text(manifest.read_text() + "\n")  # a dependency changed: commit again
    assert committed(repo, stage, deps, outs) is None
