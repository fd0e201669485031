"""``--dataset NAME`` on summary, leaderboard, handoff, predict and tune: each reads that data set's
models and records only (``models/datasets/NAME/``), the default stays the embedded set's, and an
unknown name lists the registered data sets. On a project root holding both the embedded set's
smoke data and CGCNN and data set ``tiny``'s (``dataset_smoke``, real structures written as CIF)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from matassets.cli import main


@pytest.fixture
def root(dataset_smoke: Path, smoke_root: Path, phase1_smoke, tmp_path: Path, monkeypatch) -> Path:
    """A copy of data set tiny's root with the embedded set's smoke data and trained CGCNN beside it."""
    out = tmp_path / "root"
    shutil.copytree(dataset_smoke, out)
    shutil.copytree(smoke_root / "data", out / "data", dirs_exist_ok=True)
    model = Path("models") / "cgcnn_formation_energy" / "smoke"
    shutil.copytree(smoke_root / model, out / model)
    monkeypatch.setenv("MATASSETS_ROOT", str(out))
    return out


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_each_command_reads_the_named_data_set_s_models_only(root: Path, capsys) -> None:
    code, out, _ = _run(capsys, "leaderboard", "--dataset", "tiny")
    assert code == 0
    assert "cgcnn_e_form" in out and "eV/atom" in out  # the unit comes from tiny's manifest
    assert "cgcnn_formation_energy" not in out
    code, out, _ = _run(capsys, "leaderboard")
    assert code == 0 and "cgcnn_formation_energy" in out and "e_form" not in out

    code, out, _ = _run(capsys, "handoff", "--dataset", "tiny", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["asset"] for r in rows] == ["cgcnn_e_form"]
    assert rows[0]["command"] == "matassets dataset train tiny --level smoke --property e_form"
    code, out, _ = _run(capsys, "handoff", "--format", "csv")
    assert code == 0  # the embedded set's records leave out models/datasets/
    assert [r["asset"] for r in csv.DictReader(io.StringIO(out))] == ["cgcnn_formation_energy"]

    code, out, _ = _run(capsys, "summary", "--dataset", "tiny", "--level", "smoke")
    assert code == 0
    assert "== level smoke == (data set tiny)" in out and "raw rows: 120" in out
    assert "model cgcnn_e_form: test e_form: MAE" in out and "cgcnn_formation_energy" not in out
    code, out, _ = _run(capsys, "summary", "--level", "smoke")
    assert code == 0 and "model cgcnn_formation_energy" in out and "e_form" not in out

    cif = next((root / "cifs").glob("*.cif"))
    code, out, _ = _run(capsys, "predict", "--dataset", "tiny", "--model", "cgcnn_e_form", str(cif))
    assert code == 0
    (line,) = out.splitlines()
    assert set(json.loads(line)) == {"file", "formula", "e_form", "unseen_elements"}  # tiny's property
    code, out, _ = _run(capsys, "predict", "--model", "cgcnn_formation_energy", str(cif))
    assert code == 0 and set(json.loads(out)) == {"file", "formula", "formation_energy", "unseen_elements"}


def test_a_data_set_s_missing_model_names_its_own_models_and_train_command(root: Path, capsys) -> None:
    cif = str(next((root / "cifs").glob("*.cif")))
    code, _, err = _run(capsys, "predict", "--dataset", "tiny", "--model", "cgcnn_formation_energy", cif)
    assert code == 2
    assert "cgcnn_formation_energy is not a model of data set tiny: choose from cgcnn_e_form" in err
    code, _, err = _run(
        capsys, "predict", "--dataset", "tiny", "--model", "cgcnn_e_form", "--level", "lite", cif
    )
    assert code == 2
    assert "no trained cgcnn_e_form model of data set tiny for level lite" in err
    assert "`matassets dataset train tiny --level lite --property e_form`; trained levels: smoke" in err
    code, out, _ = _run(capsys, "summary", "--dataset", "tiny", "--level", "lite")
    assert code == 1 and "run `matassets dataset train tiny --level lite`" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["summary"],
        ["leaderboard"],
        ["handoff"],
        ["predict", "--model", "cgcnn_e_form", "x.cif"],
        ["tune", "--dry-run"],
        ["run", "phase1", "--dry-run"],
    ],
)
def test_an_unknown_data_set_lists_the_registered_ones(root: Path, capsys, argv: list[str]) -> None:
    code, _, err = _run(capsys, *argv, "--dataset", "nope")
    assert code == 2
    assert "no data set 'nope'; registered: embedded, mlearn, topo_labels, tiny" in err


def test_run_with_a_data_set_takes_set_force_and_checks_them_at_dry_run(root: Path, capsys) -> None:
    """``run phase1 --dataset tiny`` takes ``--set``/``--force`` like the embedded set: configured
    under the op ``tiny__cgcnn_e_form`` (Dagster validates it in the dry run) and a mistyped key
    refused in one line before anything runs."""
    argv = ("run", "phase1", "--dataset", "tiny", "--level", "smoke", "--dry-run")
    code, out, err = _run(capsys, *argv, "--set", "epochs=2", "--force")
    assert code == 0, err
    assert '{"ops": {"tiny__cgcnn_e_form": {"config": {"epochs": 2, "force": true}}}}' in out
    code, _, err = _run(capsys, *argv, "--set", "epoch=2")
    assert code == 2
    assert "--set epoch: not a setting of tiny/cgcnn_e_form" in err


def test_nproc_on_a_data_set_s_forest_names_the_model_it_does_not_apply_to(root: Path, capsys) -> None:
    argv = ("run", "phase1", "--dataset", "tiny", "--level", "smoke", "--dry-run", "--nproc", "2")
    code, _, err = _run(capsys, *argv, "--algorithm", "rf")
    assert code == 2
    assert "--nproc applies to" in err and "not tiny/forest_e_form" in err
    code, out, err = _run(capsys, *argv)  # CGCNN: the GNN trainer takes it
    assert code == 0, err
    assert '"tiny__cgcnn_e_form": {"config": {"nproc": 2}}' in out
