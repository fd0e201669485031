"""``matassets tune --dataset NAME``: a registered data set's CGCNN takes the embedded models' run
config, so a tuning round of ``NAME/cgcnn_<property>`` trains into NAME's own tuning folder and the
best round becomes NAME's model. One smoke round on a copy of ``dataset_smoke`` (data set ``tiny``),
its current model removed first so that the round is promoted whatever its score."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from matassets.cli import main
from matassets.paths import Layout
from matassets.training.history import read_history


@pytest.mark.slow  # one smoke training
def test_one_tuning_round_of_a_data_set_s_model_is_promoted_into_its_own_folder(
    dataset_smoke: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    root = tmp_path / "root"
    shutil.copytree(dataset_smoke, root)
    monkeypatch.setenv("MATASSETS_ROOT", str(root))
    (tmp_path / "dagster_home").mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("MATASSETS_THREADS", "1")
    layout = Layout(root).for_dataset("tiny")
    final = layout.model_dir("cgcnn_e_form", "smoke")
    shutil.rmtree(final)  # no current version: the round is promoted if it passes its check

    code = main(["tune", "--dataset", "tiny", "--level", "smoke", "--rounds", "1", "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0 and "tune tiny/cgcnn_e_form [smoke]: 1 rounds from {" in out

    argv = ["tune", "--dataset", "tiny", "--level", "smoke", "--rounds", "1", "--session", "t1"]
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    session = json.loads((root / "artifacts/adaptive_tuning/t1/session.json").read_text())
    assert session["dataset"] == "tiny" and [t["asset"] for t in session["targets"]] == ["tiny/cgcnn_e_form"]
    (row,) = csv.DictReader((root / "artifacts/adaptive_tuning/t1/summary.csv").open())
    assert row["asset"] == "tiny/cgcnn_e_form" and row["return_code"] == "0" and float(row["score"]) < 1
    candidate = layout.tuning_model_dir("cgcnn_e_form", "t1/round_1")
    assert row["model_dir"] == str(candidate) and (candidate / "model.pt").is_file()

    record = json.loads((final / "run_record.json").read_text())
    assert record["tuning_session"] == "t1" and record["tuning_round"] == 1
    assert record["overrides"] == {} and record["command"].startswith("matassets dataset train tiny")
    (entry,) = read_history(layout, "cgcnn_e_form", "smoke")[-1:]
    assert entry["by"] == "tuning session t1" and "had no current version" in entry["reason"]
    assert not (root / "models" / "cgcnn_e_form").exists()  # nothing in the embedded set's folders

    with dg.DagsterInstance.get() as instance:  # the promotion is a materialization of D's asset
        event = instance.get_latest_materialization_event(dg.AssetKey(["tiny", "cgcnn_e_form"]))
    assert (
        event is not None
        and "promoted from tuning session t1, round 1" in event.asset_materialization.description
    )


def test_a_data_set_s_forest_is_tuned_and_its_best_round_promoted(
    dataset_smoke: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """``tune --dataset tiny --algorithm rf``: a round of ``tiny/forest_e_form`` with the forest's
    knobs, trained into tiny's tuning folder, promoted as tiny's forest (it had none)."""
    root = tmp_path / "root"
    shutil.copytree(dataset_smoke, root)
    monkeypatch.setenv("MATASSETS_ROOT", str(root))
    monkeypatch.setenv("MATASSETS_THREADS", "1")
    layout = Layout(root).for_dataset("tiny")

    assert main(["tune", "--dataset", "tiny", "--level", "smoke", "--phase", "all", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "tune tiny/cgcnn_e_form [smoke]" in out and "tune tiny/forest_e_form [smoke]" in out
    assert main(["tune", "--dataset", "tiny", "--level", "smoke", "--dry-run"]) == 0  # phase1: CGCNN
    assert "forest" not in capsys.readouterr().out

    argv = ["tune", "--dataset", "tiny", "--level", "smoke", "--algorithm", "rf", "--rounds", "1"]
    code = main([*argv, "--session", "f1", "--start", "n_estimators=20"])
    out = capsys.readouterr().out
    assert code == 0, out
    (row,) = csv.DictReader((root / "artifacts/adaptive_tuning/f1/summary.csv").open())
    assert row["asset"] == "tiny/forest_e_form" and row["return_code"] == "0" and float(row["score"]) < 1
    candidate = layout.tuning_model_dir("forest_e_form", "f1/round_1")
    assert (candidate / "model.skops").is_file()
    final = layout.model_dir("forest_e_form", "smoke")
    record = json.loads((final / "run_record.json").read_text())
    assert record["tuning_session"] == "f1" and record["overrides"]["n_estimators"] == 20
    assert not (root / "models" / "forest_e_form").exists()


def test_the_ui_s_tuning_job_takes_a_data_set(dataset_smoke: Path, tmp_path: Path, monkeypatch) -> None:
    """``tuning_job``'s config has ``dataset`` (default: the embedded set): Dagster validates it, the
    session is tiny's, and round 1's request selects ``tiny/cgcnn_e_form`` with its op's config. No
    round is run."""
    from matassets.assets.resources import ProjectResource
    from matassets.automation.tuning.session import TuningSession
    from matassets.automation.tuning_runs import TuningConfig, round_request, tuning_job

    root = tmp_path / "root"
    shutil.copytree(dataset_smoke, root)
    monkeypatch.setenv("MATASSETS_ROOT", str(root))
    assert TuningConfig().dataset == "embedded"

    def config(**values) -> dict:
        return {"ops": {"start_tuning_session": {"config": {"level": "smoke", **values}}}}

    assert dg.validate_run_config(tuning_job, config(dataset="tiny", rounds=1, session="ui"))
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(tuning_job, config(dataset=["tiny"]))
    project = ProjectResource(root=str(root))
    with dg.DagsterInstance.ephemeral() as instance:
        run = tuning_job.execute_in_process(
            run_config=config(dataset="tiny", rounds=1, session="ui"),
            instance=instance,
            resources={"project": project},
        )
        assert run.success
        unknown = tuning_job.execute_in_process(
            run_config=config(dataset="nope"),
            instance=instance,
            resources={"project": project},
            raise_on_error=False,
        )
    assert not unknown.success
    message = unknown.get_step_failure_events()[0].step_failure_data.error.message
    assert "no data set 'nope'" in message and "tiny" in message
    session = TuningSession.load(project.layout, "ui")
    assert session.layout.dataset == "tiny" and [t.asset for t in session.targets] == ["tiny/cgcnn_e_form"]
    request = round_request(session.first_plan())
    assert request.asset_selection == [dg.AssetKey(["tiny", "cgcnn_e_form"])]
    assert request.run_config["ops"]["tiny__cgcnn_e_form"]["config"]["output_tag"] == "ui/round_1"
