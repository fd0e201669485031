"""What a CLI run says (issue #21): errors that name the right fix, progress at INFO, one closing block
with each model's path, headline metric and checks, a named job, exit codes that follow the checks."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from matassets.cli import main


def test_mistyped_set_key_fails_at_dry_run_in_one_line_with_the_valid_keys(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MATASSETS_ROOT", str(tmp_path))
    argv = ["run", "phase1", "--level", "smoke", "--property", "formation_energy", "--dry-run"]
    assert main([*argv, "--set", "epoch=2"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("error: --set epoch: not a setting of cgcnn_formation_energy; valid keys: ")
    assert "epochs" in line.split("valid keys: ")[1].split(", ")
    # a right key with a value of the wrong type: Dagster's config check, also before anything runs
    assert main([*argv, "--set", "epochs=many"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "epochs" in err and len(err.strip().splitlines()) == 1
    # a value outside a setting's choices: Dagster's check, with the choices named
    assert main([*argv, "--set", "device=gpu"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip().endswith(
        "config:device not in enum type Device got gpu: choose one of auto, cpu, cuda"
    )
    # a right key passes the dry run and shows the job the run goes through
    assert main([*argv, "--set", "epochs=2"]) == 0
    out = capsys.readouterr().out
    assert "job: phase1_job" in out and '"epochs": 2' in out


def test_warm_start_from_a_model_in_the_same_selection_fails_at_dry_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MATASSETS_ROOT", str(tmp_path))
    argv = ["run", "phase1", "--level", "smoke", "--set", "warm_start_from=formation_energy", "--dry-run"]
    assert main(argv) == 2  # every CGCNN model: formation energy's among them
    out, err = capsys.readouterr()
    assert out == "" and "would start cgcnn_formation_energy from itself: choose the models" in err
    assert main([*argv, "--property", "band_gap"]) == 0
    assert '"warm_start_from": "formation_energy"' in capsys.readouterr().out


def test_predict_without_the_level_model_names_the_command_for_that_level(tmp_path, monkeypatch, capsys):
    """Synthetic fixture: an empty smoke model folder with only config.json (the trained level)."""
    monkeypatch.setenv("MATASSETS_ROOT", str(tmp_path))
    smoke = tmp_path / "models/cgcnn_band_gap/smoke"
    smoke.mkdir(parents=True)
    (smoke / "config.json").write_text("{}")
    assert main(["predict", "--model", "cgcnn_band_gap", "--level", "lite", "x.cif"]) == 2
    err = capsys.readouterr().err
    assert "`matassets run phase1 --level lite --property band_gap`" in err
    assert "trained levels: smoke" in err and "--level smoke" not in err
    assert main(["predict", "--model", "mace_potential", "--competition", "x.cif"]) == 2
    assert "`matassets relax --competition FILE` uses it" in capsys.readouterr().err  # the potential
    assert main(["predict", "--model", "cgcnn_nonsense", "x.cif"]) == 2
    assert "choose from cgcnn_formation_energy" in capsys.readouterr().err


@pytest.mark.slow
def test_a_cli_run_is_named_by_its_job_and_ends_with_one_closing_block(
    smoke_root, tmp_path, monkeypatch, capfd
):
    import dagster as dg

    from matassets.reports.leaderboard import unit

    root = tmp_path / "root"
    shutil.copytree(smoke_root / "data", root / "data")
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("MATASSETS_ROOT", str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    argv = ["run", "phase1", "--level", "smoke", "--property", "band_gap", "--no-data", "--set", "epochs=1"]
    assert main(argv) == 0
    out, err = capfd.readouterr()
    text = out + err
    assert " - DEBUG - " not in text and "STEP_START" not in text  # Dagster's DEBUG lines: only with -v
    assert " - INFO - phase1_job - " in text and "epoch 1/1" in text  # progress at INFO
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("run ") and " of job " in line)
    block = lines[start:]
    model_dir = root / "models/cgcnn_band_gap/smoke"
    saved = json.loads((model_dir / "metrics.json").read_text())
    metrics, val = saved["test"]["band_gap"], saved["val"]["band_gap"]
    assert block[0].startswith("run ") and block[0].endswith(" of job phase1_job [smoke]: succeeded")
    assert block[1] == f"  cgcnn_band_gap [smoke]: {model_dir}"
    # each figure names its split (#22: a passed check beside a test line "NOT better" read as a
    # contradiction): the validation figures the check judged, then the test figures
    assert block[2].startswith(
        f"    validation band_gap: MAE {val['mae']:.4g} {unit('band_gap')} vs baseline "
        f"{val['baseline_mad']:.4g} {unit('band_gap')} (ratio {val['baseline_mad'] / val['mae']:.3g}"
    )
    assert block[3].startswith(
        f"    test band_gap: MAE {metrics['mae']:.4g} {unit('band_gap')} vs baseline "
        f"{metrics['baseline_mad']:.4g} {unit('band_gap')} (ratio {metrics['mad_mae_ratio']:.3g}"
    )
    assert unit("band_gap") == "eV"
    # the check line says what the check judged: the validation split's MAE and baseline
    assert block[4] == (
        f"    checks: beats_mean_baseline passed (validation MAE {val['mae']:.4g} vs mean-predictor "
        f"MAE {val['baseline_mad']:.4g})"
    )
    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs()
        assert run.job_name == "phase1_job" and block[0].split()[1] == run.run_id
        events = [e.dagster_event for e in instance.all_logs(run.run_id) if e.dagster_event]
    # the check result names the partition it judged
    (check,) = [e.event_specific_data for e in events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert check.description.startswith("[smoke] ") and check.metadata["partition"].value == "smoke"
    # the key numbers are float metadata (the UI's Plots tab draws them across materializations)
    (materialization,) = [e.event_specific_data.materialization for e in events if e.is_step_materialization]
    numbers = {k: v for k, v in materialization.metadata.items() if isinstance(v, dg.FloatMetadataValue)}
    assert numbers["test MAE band_gap (eV)"].value == metrics["mae"]
    assert numbers["baseline band_gap (eV)"].value == metrics["baseline_mad"]
    assert abs(numbers["ratio to baseline band_gap"].value - metrics["mad_mae_ratio"]) < 1e-9


@pytest.mark.slow
def test_a_refused_level_says_why_as_the_runs_error_and_exits_1(smoke_root, tmp_path, monkeypatch, capfd):
    """Too few clean structures for the level: the check's reason is the run's error line (not a
    DEBUG line) and the exit code is 1. Synthetic fixture: the smoke raw table cut to 12 rows."""
    import polars as pl

    from matassets.levels import DATA
    from matassets.paths import Layout

    root = tmp_path / "root"
    layout = Layout(root)
    raw = layout.raw("smoke")
    raw.parent.mkdir(parents=True)
    pl.read_parquet(Layout(smoke_root).raw("smoke")).head(12).write_parquet(raw)
    monkeypatch.setenv("MATASSETS_ROOT", str(root))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert main(["-v", "materialize", "--asset", "structures", "--asset", "splits", "--level", "smoke"]) == 1
    out, err = capfd.readouterr()
    assert " - DEBUG - " in out + err  # -v: Dagster's DEBUG lines are back
    lines = out.splitlines()
    need = DATA["smoke"].min_clean
    assert lines[-1].startswith(
        f"error: structures [smoke]: check enough_clean_structures failed: 12 clean structures; "
        f"the smoke level needs at least {need}"
    )
    assert not any(line.startswith("error: ") for line in lines[:-1])  # one error, said once
    assert "of job data_job [smoke]: FAILED" in out
    assert "  not run (an upstream step failed): splits" in lines


def test_a_failed_warning_check_is_said_and_does_not_fail_the_command():
    """Synthetic fixture: a stand-in for Dagster's in-process result with one materialization and a
    failed non-blocking check (issue #21: such a run ended "succeeded" with nothing said)."""
    from types import SimpleNamespace

    import dagster as dg

    from matassets.cli._report import closing_block

    materialization = SimpleNamespace(asset_key=dg.AssetKey("structures"), metadata={})
    evaluation = SimpleNamespace(
        asset_key=dg.AssetKey("structures"),
        check_name="quarantine_report",
        passed=False,
        blocking=False,
        description="[smoke] mp-1 (embedded) structure: unparsable",
    )
    result = SimpleNamespace(
        run_id="r1",
        success=True,
        get_asset_materialization_events=lambda: [
            SimpleNamespace(event_specific_data=SimpleNamespace(materialization=materialization))
        ],
        get_asset_check_evaluations=lambda: [evaluation],
        get_step_failure_events=lambda: [],
    )
    outcome = closing_block(result, "data_job", "smoke", selection=["structures"])
    assert outcome.ok
    assert outcome.lines[0] == "run r1 of job data_job [smoke]: succeeded with warnings"
    assert "  structures [smoke]: checks: quarantine_report FAILED (warning)" in outcome.lines
    assert outcome.lines[-1] == (
        "warning: structures [smoke]: check quarantine_report failed: mp-1 (embedded) structure: unparsable"
    )


def test_a_failed_step_ends_with_its_reason_and_the_run_is_the_ui_locations(tmp_path, monkeypatch, capfd):
    """A step that raises (splits without the structures table): the console shows the failure's
    first line only and the closing block ends with the asset's own error, last; ``-v`` brings the
    traceback back. The run is recorded as a run of the code location ``workspace.yaml`` names (the
    UI's Overview lists a location's runs only; issue #21: "No runs" after a dozen CLI runs). The
    wait that keeps the last lines is the run's own: it does not stay in the environment, where a
    Celery worker or the UI's runs started from the CLI would pay it after every step."""
    import tomllib

    import dagster as dg
    import yaml

    from matassets.cli._common import TAIL_WAIT
    from matassets.paths import PROJECT_ROOT
    from matassets.ui.server import DEFAULT_MODULE

    monkeypatch.delenv(TAIL_WAIT, raising=False)
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("MATASSETS_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    argv = ["materialize", "--asset", "splits", "--level", "smoke"]
    assert main(argv) == 1
    out, err = capfd.readouterr()
    last = out.splitlines()[-1]
    assert last.startswith("error: splits [smoke]: FileNotFoundError: ") and "no such table" in last
    assert "Stack Trace" not in out + err and "Traceback" not in out + err
    assert 'STEP_FAILURE - Execution of step "splits" failed.' in err
    assert TAIL_WAIT not in os.environ
    assert main(["-v", *argv]) == 1
    out, err = capfd.readouterr()
    assert "Stack Trace" in err and out.splitlines()[-1] == last  # -v: the traceback too

    workspace = yaml.safe_load((PROJECT_ROOT / "workspace.yaml").read_text())
    (location,) = [entry["python_module"] for entry in workspace["load_from"]]
    assert location["module_name"] == DEFAULT_MODULE  # the module matassets ui serves
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["dagster"]
    assert pyproject["code_location_name"] == location["location_name"]
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
    assert len(runs) == 2
    for run in runs:
        origin = run.remote_job_origin
        assert origin is not None, "a CLI run without a code-location origin: the Overview leaves it out"
        assert origin.location_name == location["location_name"]
        assert origin.repository_origin.repository_name == "__repository__"
        assert (origin.job_name, run.job_name) == ("data_job", "data_job")
        assert run.tags["dagster/partition"] == "smoke"
