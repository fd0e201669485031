"""The ``matassets`` command line: the runbook's commands (dry runs and a real smoke run through
Dagster), their errors, check-env, handoff and the generated docs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from matassets.cli import main
from matassets.paths import PROJECT_ROOT

# The runbook's commands → the assets they train (besides the data assets upstream).
RUNBOOK = [
    (["run", "phase1", "--property", "formation_energy"], ["cgcnn_formation_energy"]),
    (["run", "phase2", "--algorithm", "e3nn"], ["multitask_e3nn"]),
    (["run", "phase3", "--algorithm", "mace"], ["mace_training_data", "mace_potential"]),
    (["run", "phase3", "--algorithm", "equivariant", "--property", "band_gap"], ["specialist_band_gap"]),
    (["run", "phase4", "--algorithm", "topognn"], ["topo_db", "topo_classifier_gnn"]),
    (["run", "phase4", "--algorithm", "rf"], ["topo_db", "topo_classifier_rf"]),
]


def installed() -> dict:
    from matassets.cli._common import asset_infos

    return asset_infos()


def expected_selection(targets: list[str]) -> set[str]:
    """The targets and the data assets upstream of them, computed with Dagster's own selection."""
    import dagster as dg

    from matassets.definitions import defs

    graph = defs.resolve_asset_graph()
    upstream = dg.AssetSelection.assets(*targets).upstream().resolve(graph)
    data = {k.to_user_string() for k in upstream if graph.get(k).group_name == "data"}
    return data | set(targets)


def selection_in(out: str) -> list[str]:
    line = next(line for line in out.splitlines() if line.startswith("assets ("))
    return line.split(": ", 1)[1].split(", ")


def assert_upstream_first(selection: list[str]) -> None:
    """Every asset of ``selection`` comes after each of its parents that is also selected."""
    import dagster as dg

    from matassets.definitions import defs

    graph = defs.resolve_asset_graph()
    position = {name: k for k, name in enumerate(selection)}
    for name in selection:
        for parent in graph.get(dg.AssetKey(name)).parent_keys:
            before = position.get(parent.to_user_string(), -1)
            assert before < position[name], f"{name} is listed before its input {parent.to_user_string()}"


def test_the_ordering_check_catches_an_asset_listed_before_its_input():
    with pytest.raises(AssertionError, match="listed before its input"):
        assert_upstream_first(["mace_potential", "mace_training_data"])
    assert_upstream_first(["mace_training_data", "mace_potential"])


@pytest.mark.parametrize("level", ["smoke", "std", "pro", "competition"])
@pytest.mark.parametrize(
    ("argv", "targets"), RUNBOOK, ids=lambda v: "-".join(v) if isinstance(v, list) else None
)
def test_runbook_dry_runs_show_the_selection_and_partition(
    argv, targets, level, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("MATASSETS_ROOT", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    flags = ["--competition"] if level == "competition" else ["--level", level]
    code = main([*argv, *flags, "--dry-run"])
    out, err = capsys.readouterr()
    assert not [t for t in targets if t not in installed()]  # every runbook phase is installed
    assert code == 0, err
    assert f"partition: {level}" in out
    selection = selection_in(out)
    assert set(selection) == expected_selection(targets)
    assert_upstream_first(selection)
    assert f"--partition {level} --select '{','.join(selection)}'" in out
    assert not (tmp_path / "data").exists() and not (tmp_path / "models").exists()  # nothing ran
    assert "run: nothing was run or recorded (a dry run)" in out and "DAGSTER_HOME" not in out
    assert not (tmp_path / "dagster_home").exists()


def test_phase1_without_property_trains_every_installed_property(capsys):
    assert main(["run", "phase1", "--level", "lite", "--dry-run", "--set", "epochs=2"]) == 0
    out = capsys.readouterr().out
    cgcnn = [a for a in installed() if a.startswith("cgcnn_")]
    assert len(cgcnn) >= 4 and set(cgcnn) <= set(selection_in(out))
    config = json.loads(out.split("run config: ", 1)[1].splitlines()[0])
    assert config == {"ops": {a: {"config": {"epochs": 2}} for a in cgcnn}}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "phase1", "--property", "colour"], "has no model for property 'colour': choose from"),
        (
            ["run", "phase3", "--algorithm", "dft"],
            "phase3 has no algorithm 'dft': choose from mace, equivariant",
        ),
        (["run", "phase4", "--algorithm", "rf", "--property", "band_gap"], "takes no --property"),
        (["run", "phase1", "--set", "epochs"], "--set takes key=value"),
        (["materialize", "--asset", "no_such_asset"], "asset no_such_asset is not in this installation"),
    ],
)
def test_wrong_property_algorithm_or_asset_is_a_clear_error(argv, message, capsys):
    assert main([*argv, "--dry-run"]) == 2
    assert message in capsys.readouterr().err


def test_an_invalid_run_config_is_one_short_line_naming_the_key_and_its_path():
    """Dagster's message carries the whole config schema; the CLI keeps the path and the key."""
    from matassets.cli._common import run_config_errors

    op = "cgcnn_formation_energy"
    message = run_config_errors([op], {"ops": {op: {"config": {"epochz": 3, "lr": "x"}}}})
    assert '"epochz" at path root:ops:cgcnn_formation_energy:config' in message
    assert "root:ops:cgcnn_formation_energy:config:lr" in message
    assert "Expected" not in message and "batch_size" not in message and len(message) < 300


def test_wrong_level_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "phase1", "--level", "huge", "--dry-run"])
    assert exc.value.code == 2
    assert "invalid choice: 'huge'" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="either --level or --competition"):
        main(["run", "phase1", "--level", "std", "--competition", "--dry-run"])


def test_materialize_one_asset_is_what_dvc_stages_run(capsys):
    assert main(["materialize", "--asset", "cgcnn_band_gap", "--level", "max", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert selection_in(out) == ["cgcnn_band_gap"] and "partition: max" in out
    assert "reads as they are on disk (not re-run): crystal_graphs, splits, structures" in out


@pytest.mark.slow
def test_real_smoke_run_goes_through_dagster_and_is_recorded(smoke_root, tmp_path, monkeypatch, capsys):
    """`run phase1 --level smoke` with an override: a Dagster run in DAGSTER_HOME, a run record."""
    import dagster as dg

    root = tmp_path / "root"
    shutil.copytree(smoke_root / "data", root / "data")
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("MATASSETS_ROOT", str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    argv = [
        "run",
        "phase1",
        "--level",
        "smoke",
        "--property",
        "formation_energy",
        "--no-data",
        "--set",
        "epochs=1",
    ]
    assert main(argv) == 0
    assert "succeeded" in capsys.readouterr().out
    assert "enabled: false" in (home / "dagster.yaml").read_text()  # a new DAGSTER_HOME: telemetry off
    record = json.loads((root / "models/cgcnn_formation_energy/smoke/run_record.json").read_text())
    assert record["overrides"]["epochs"] == 1 and record["level"] == "smoke"
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert len(runs) == 1 and runs[0].run_id == record["dagster_run_id"]
        assert runs[0].tags["dagster/partition"] == "smoke"
        assert runs[0].tags["matassets/cli"] == "matassets " + " ".join(argv)


def test_check_env_passes_here(capsys):
    assert main(["check-env"]) == 0
    out = capsys.readouterr().out
    for name in ("python", "torch", "dagster", "dvc", "torch threads", "embedded data", "project root"):
        assert f"  {name} " in out or f"  {name}  " in out, name
    assert "FAIL" not in out
    import torch

    where = "models train there (device=auto" if torch.cuda.is_available() else "models train on the CPU"
    assert where in out  # what device=auto resolves to on this machine


def test_handoff_renders_the_smoke_run_newest_first(smoke_root, phase1_smoke, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MATASSETS_ROOT", str(smoke_root))
    record = json.loads((smoke_root / "models/cgcnn_formation_energy/smoke/run_record.json").read_text())
    assert main(["handoff", "--level", "smoke", "--out", str(tmp_path)]) == 0
    markdown = (tmp_path / "handoff.md").read_text()
    assert "| phase1 | cgcnn | cgcnn_formation_energy | level | smoke |" in markdown
    assert f"`{record['command']}`" in markdown
    mae = record["test_metrics"]["formation_energy"]["mae"]
    assert f"formation_energy mae={mae:.4g}" in markdown
    rows = list(csv.DictReader((tmp_path / "handoff.csv").open()))
    ours = [r for r in rows if r["asset"] == "cgcnn_formation_energy"]
    assert ours and ours[0]["dagster_run_id"] == phase1_smoke.run_id
    stamps = [r["finished_at"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)
    assert main(["handoff", "--level", "max"]) == 1  # nothing trained at max
    assert "no run records" in capsys.readouterr().out


def test_handoff_orders_by_finish_time_synthetic_records(tmp_path, monkeypatch, capsys):
    """Synthetic run records (unit test): newest first, classification and flat metrics summarised."""
    for asset, stamp, val in [
        ("old_model", "2026-01-01T00:00:00+00:00", {"topo": {"f1": 0.5, "accuracy": 0.7}}),
        ("new_model", "2026-02-01T00:00:00+00:00", {"energy_mae": 0.01}),
    ]:
        folder = tmp_path / "models" / asset / "lite"
        folder.mkdir(parents=True)
        (folder / "run_record.json").write_text(
            json.dumps({"phase": "phaseX", "partition": "lite", "finished_at": stamp, "val_metrics": val})
        )
    monkeypatch.setenv("MATASSETS_ROOT", str(tmp_path))
    assert main(["handoff", "--format", "csv"]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [r["asset"] for r in rows] == ["new_model", "old_model"]
    assert rows[0]["val"] == "energy_mae=0.01" and rows[1]["val"] == "topo accuracy=0.7 f1=0.5"


def test_docs_levels_md_is_generated_from_levels_py():
    from matassets.cli.docs import levels_markdown

    text = levels_markdown()
    assert (PROJECT_ROOT / "docs/levels.md").read_text(encoding="utf-8") == text, (
        "docs/levels.md is out of date with matassets/levels.py: run `matassets levels-md`"
    )
    from matassets.levels import CGCNN, PARTITIONS

    epochs = " | ".join(str(CGCNN[p].epochs) for p in PARTITIONS)
    assert "## `CGCNN` (TrainPreset)" in text and f"| `epochs` | {epochs} |" in text
    # a subclass's table (the e3nn presets) gives inherited fields their base class's meaning
    e3nn_table = text.split("## `E3NN_MULTITASK`")[1].split("\n## ")[0]
    assert "| on z-scored targets |" in e3nn_table


def test_graph_png_draws_every_asset(tmp_path, capsys):
    out = tmp_path / "graph.png"
    assert main(["graph-png", "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG" and out.stat().st_size > 10_000
    assert f"({len(installed())} assets)" in capsys.readouterr().out
    assert (PROJECT_ROOT / "docs/asset_graph.png").is_file()


@pytest.mark.slow
def test_docker_entrypoint_check_and_passthrough(tmp_path):
    """The container's entry point, run here: --check finds everything and shows both commands."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "DAGSTER_HOME": str(tmp_path / "home"),
        "MATASSETS_APP": str(PROJECT_ROOT),
    }
    script = str(PROJECT_ROOT / "docker" / "entrypoint.sh")
    out = subprocess.run([script, "--check"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "FAIL" not in out.stdout and "code location: matassets.definitions loads" in out.stdout
    assert f"would run: dagster-webserver -h 0.0.0.0 -p 3000 -w {PROJECT_ROOT}/workspace.yaml" in out.stdout
    assert f"would run: dagster-daemon run -w {PROJECT_ROOT}/workspace.yaml" in out.stdout
    out = subprocess.run([script, "sh", "-c", "pwd"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == str(PROJECT_ROOT)
    assert "enabled: false" in (tmp_path / "home" / "dagster.yaml").read_text()  # telemetry off
    bad = subprocess.run(
        [script, "--check"], env={**env, "MATASSETS_APP": str(tmp_path)}, capture_output=True, text=True
    )
    assert bad.returncode == 1 and "FAIL  workspace" in bad.stdout


def test_dockerfile_uses_the_pyproject_torch_pin_from_the_cpu_index():
    import tomllib

    deps = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch_pin = next(d for d in deps if d.startswith("torch=="))
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert f"--index-url https://download.pytorch.org/whl/cpu {torch_pin}" in dockerfile
    assert "FROM python:3.11-slim" in dockerfile and "USER matassets" in dockerfile
    assert "pip install ." in dockerfile and "DVC_NO_ANALYTICS=1" in dockerfile
