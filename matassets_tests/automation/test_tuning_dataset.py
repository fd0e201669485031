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
