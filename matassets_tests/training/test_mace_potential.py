"""mace_potential at smoke on the real mlearn data: MACE's own trainer in a subprocess, its log in the
Dagster log, every file of the model folder, and the physics of the trained calculator.

One smoke materialization (about 30 CPU-seconds of training plus two MACE process starts) serves the
whole module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import folder_state, materialize

from matassets.data.mlearn import ELEMENTS

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread here and in MACE's child processes: on the shared 2-core test machine two
    threads are ~10x slower for these tiny models (spin-waiting on busy cores)."""
    import torch

    before_env, before_threads = os.environ.get("MATASSETS_THREADS"), torch.get_num_threads()
    os.environ["MATASSETS_THREADS"] = "1"
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before_threads)
    if before_env is None:
        os.environ.pop("MATASSETS_THREADS", None)
    else:
        os.environ["MATASSETS_THREADS"] = before_env


@pytest.fixture(scope="module")
def smoke_mace(tmp_path_factory):
    import dagster as dg

    from matassets.assets.phase3_mace import mace_potential, mace_training_data
    from matassets.assets.resources import ProjectResource

    root = tmp_path_factory.mktemp("mace_root")
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [mace_training_data, mace_potential],
        partition_key="smoke",
        instance=instance,
        resources={"project": ProjectResource(root=str(root))},
        raise_on_error=False,
    )
    assert result.success
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    return root, result, logs


@pytest.fixture(scope="module")
def model_dir(smoke_mace):
    return smoke_mace[0] / "models" / "mace_potential" / "smoke"


@pytest.fixture(scope="module")
def calc64(model_dir):
    from matassets.inference.calculator import load_calculator

    return load_calculator(model_dir, dtype="float64")


def _rattled_si(amplitude: float, seed: int):
    from ase.build import bulk

    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(amplitude, seed=seed)
    return atoms


def test_mace_log_streams_into_the_dagster_log(smoke_mace):
    _, _, logs = smoke_mace
    assert any("mace.cli.run_train" in m for m in logs)  # the command line, before it runs
    epochs = [m for m in logs if "Epoch " in m and "MAE_F=" in m]
    assert len(epochs) >= 4  # one Dagster log line per MACE validation line, as it is printed
    assert any("mace.cli.eval_configs" in m or "MACE_" in m or "eval" in m.lower() for m in logs)
    assert not any("return visitor(node)" in m for m in logs)  # import noise is filtered


def test_model_folder_has_every_file(model_dir):
    names = {p.name for p in model_dir.iterdir()}
    assert {
        "mace_potential.model",
        "mace_potential_compiled.model",
        "metrics.json",
        "run_record.json",
        "history.csv",
        "predictions.csv",
        "e0s.json",
        "mace_run_train.log",
        "parity_energy.png",
        "parity_forces.png",
        "learning_curve.png",
    } <= names
    for png in ("parity_energy.png", "parity_forces.png", "learning_curve.png"):
        assert (model_dir / png).read_bytes()[:8] == PNG
    assert not list((model_dir.parent / ".work" / "smoke").glob("*/checkpoints"))  # cleaned up


def test_metrics_are_per_element_with_baselines(model_dir):
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["units"] == {"energy": "meV/atom", "forces": "meV/Å", "stress": "GPa"}
    assert metrics["epochs_run"] == 4 and 0 <= metrics["best_epoch"] <= 3  # what tuning rounds read
    assert metrics["stop_reason"] == "max epochs"
    for split, per_config in (("val", 1), ("test", 2)):  # smoke caps: 1 val, 2 test per element
        assert set(metrics[split]) == {"all", *ELEMENTS}
        for el in ELEMENTS:
            m = metrics[split][el]
            assert m["n_configs"] == per_config
            for key in (
                "energy_mae_meV_per_atom",
                "energy_baseline_mae_meV_per_atom",
                "force_mae_meV_per_A",
                "force_baseline_mae_meV_per_A",
                "stress_mae_GPa",
                "stress_baseline_mae_GPa",
            ):
                assert np.isfinite(m[key]) and m[key] >= 0, (split, el, key)
        assert metrics[split]["all"]["n_configs"] == per_config * len(ELEMENTS)
    # the trained forces are no longer the zero predictor's
    test = metrics["test"]["all"]
    assert test["force_mae_meV_per_A"] != pytest.approx(test["force_baseline_mae_meV_per_A"], rel=1e-3)


def test_run_record_and_history(model_dir, smoke_mace):
    record = json.loads((model_dir / "run_record.json").read_text())
    assert record["phase"] == "phase3" and record["algorithm"] == "mace" and record["level"] == "smoke"
    assert record["command"] == "matassets run phase3 --algorithm mace --level smoke"
    assert record["test_metrics"]["all"]["n_configs"] == 12
    assert record["mace_command"][1:3] == ["-m", "mace.cli.run_train"]
    assert "--E0s" in record["mace_command"] and "float32" in record["mace_command"]
    assert record["data_hash"] and record["split_hash"] and record["libraries"]["mace-torch"]
    assert record["dagster_run_id"] == smoke_mace[1].run_id
    history = (model_dir / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,") and len(history) >= 1 + 4  # header + initial + epochs


def test_materialization_metadata(smoke_mace):
    _, result, _ = smoke_mace
    (mat,) = [m for m in result.asset_materializations_for_node("mace_potential")]
    meta = mat.metadata
    table = meta["test errors per element"].value
    assert all(f"| {el} |" in table for el in ELEMENTS)
    assert "parity energy" in meta and "parity forces" in meta
    assert meta["preset"].value["epochs"] == 4
    # GAP / MTP per element beside ours, ours taken from this model's test errors
    refs = meta["published references"].value
    si = next(line for line in refs.splitlines() if line.startswith("| Si |"))
    assert si.startswith("| Si | 2.91 / 70 | 2.21 / 60 |")
    assert si.split("|")[-2].strip().split(" / ")[0] in table.split("| Si |")[1]
    checks = result.get_asset_check_evaluations()
    assert [c.check_name for c in checks] == ["beats_trivial_baselines"]


def test_forces_and_stress_are_derivatives_of_the_energy(calc64):
    atoms = _rattled_si(0.05, seed=3)
    atoms.calc = calc64
    forces = atoms.get_forces()
    assert np.abs(forces).max() > 1e-3  # a trained, non-trivial force field
    h = 1e-4
    for i, k in [(0, 0), (3, 1), (6, 2)]:
        energies = []
        for step in (h, -h):
            moved = atoms.copy()
            moved.calc = calc64
            pos = moved.get_positions()
            pos[i, k] += step
            moved.set_positions(pos)
            energies.append(moved.get_potential_energy())
        assert -(energies[0] - energies[1]) / (2 * h) == pytest.approx(forces[i, k], abs=1e-6)
    # σ_xx = (1/V) dE/dε_xx
    stress = atoms.get_stress(voigt=False)
    energies = []
    for eps in (1e-5, -1e-5):
        strained = atoms.copy()
        strained.calc = calc64
        strained.set_cell(atoms.cell[:] @ np.diag([1 + eps, 1, 1]), scale_atoms=True)
        energies.append(strained.get_potential_energy())
    assert (energies[0] - energies[1]) / 2e-5 / atoms.get_volume() == pytest.approx(stress[0, 0], abs=1e-6)


def test_relaxing_rattled_si_lowers_energy_and_forces(calc64):
    from matassets.inference.calculator import relax

    result = relax(_rattled_si(0.1, seed=7), None, fmax=0.02, steps=300, calculator=calc64)
    assert result.steps > 0
    assert result.energy_final < result.energy_initial
    assert result.fmax_final < 0.02 < result.fmax_initial
    assert result.converged


def test_relax_command(smoke_mace, tmp_path, capsys):
    from ase.io import write

    from matassets.cli import main

    root = smoke_mace[0]
    poscar = tmp_path / "cells" / "POSCAR"  # relax is given the folder: its CIF/POSCAR files
    poscar.parent.mkdir()
    write(str(poscar), _rattled_si(0.05, seed=11), format="vasp")
    rc = main(
        ["relax", str(poscar.parent), "--model-dir", str(root / "models" / "mace_potential" / "smoke"),
         "--fmax", "0.05", "--output", str(tmp_path / "out")]
    )  # fmt: skip
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and row["converged"] and row["energy_final_eV"] < row["energy_initial_eV"]
    assert (tmp_path / "out" / "POSCAR_relaxed.extxyz").exists()


def test_loading_the_calculator_leaves_weights_only_loading_on(model_dir):
    """``import mace`` sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1; the calculator must undo it. Each
    check runs in a fresh interpreter, so ``mace`` is imported there for the first time (in this
    process an earlier test has imported it already, and a second import changes nothing)."""
    env = {k: v for k, v in os.environ.items() if k != "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"}

    def fresh(code: str) -> str:
        argv = [sys.executable, "-c", code]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip().splitlines()[-1]

    # the danger is real: a plain import of mace turns weights-only loading off process-wide
    assert fresh("import os, mace; print(os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'))") == "1"
    code = (
        "import os, sys, torch\n"
        "from matassets.inference.calculator import load_calculator\n"
        f"load_calculator({str(model_dir)!r})\n"
        "assert 'mace' in sys.modules\n"
        "try:\n"
        f"    torch.load({str(model_dir / 'mace_potential.model')!r})\n"
        "    refused = 'loaded'\n"
        "except Exception as error:\n"
        "    refused = 'refused' if 'eights only load failed' in str(error) else repr(error)\n"
        "print(os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'), refused)\n"
    )
    assert fresh(code) == "None refused"  # the pickled module stays refused


def test_run_config_overrides_the_preset_and_tuning_tags_are_run_options():
    from matassets.assets.phase3_mace import MaceOverrides
    from matassets.levels import MACE

    preset, changes, options = MaceOverrides(epochs=7, lr=1e-3, output_tag="s1/round_2").apply(MACE["lite"])
    assert (preset.epochs, preset.lr, preset.batch_size) == (7, 1e-3, MACE["lite"].batch_size)
    assert changes == {"epochs": 7, "lr": 1e-3} and options.output_tag == "s1/round_2"
    # per_element is a preset field (false at smoke and lite, true at std) that a run can set
    assert [MACE[p].per_element for p in ("smoke", "lite", "std")] == [False, False, True]
    preset, changes, _ = MaceOverrides(per_element=True).apply(MACE["smoke"])
    assert preset.per_element and changes == {"per_element": True}


def test_unchanged_rematerialization_reuses_the_model(smoke_mace, model_dir):
    """Same data, preset and code: the folder is returned untouched (``training.incremental``)."""
    from matassets.assets.phase3_mace import mace_potential

    root, first, _ = smoke_mace
    before = folder_state(model_dir)
    again = materialize([mace_potential], root)
    assert again.success
    meta = again.get_asset_materialization_events()[0].materialization.metadata
    assert meta["training"].value.startswith("up to date, training skipped")
    assert folder_state(model_dir) == before
    trained = next(
        e.materialization.metadata
        for e in first.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "mace_potential"
    )
    for key in ("test energy MAE (meV/atom)", "mace command", "train s", "duration s", "parity energy"):
        assert meta[key] == trained[key], key
