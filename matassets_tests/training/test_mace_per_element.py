"""MACE per element (``--set per_element=true``) at smoke on the real mlearn data of two elements:
through Dagster, one MACE per element beside the one-for-all model, each trained on its element
alone and evaluated on its element's official test configurations; the per-element table in
``metrics.json`` and in the UI.

Not folded into ``test_mace_potential``'s ``smoke_mace`` (issue #22 asked): that fixture trains on
all six elements, so ``per_element`` there would add six per-element MACE runs (each a training and
an evaluation process) to save this test's three (79 CPU-s here, 2026-12-02): more suite time, not less."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

ELEMENTS = ("Li", "Si")  # two of mlearn's six; smoke caps each to 3 train / 1 val / 2 test cells


@pytest.mark.slow
def test_per_element_models_beside_the_one_for_all_model(tmp_path: Path, monkeypatch) -> None:
    import dagster as dg
    from conftest import materialize

    from matassets.assets.phase3_mace import mace_potential
    from matassets.data.mlearn import build_mace_data, read_extxyz, source_root
    from matassets.levels import MACE
    from matassets.paths import Layout
    from matassets.training.mace_runner import MODEL_NAME, MaceTrainingError
    from matassets.training.potential_eval import predict_with_mace

    monkeypatch.setenv("MATASSETS_THREADS", "2")  # the two elements at once, one thread each
    preset, layout = MACE["smoke"], Layout(tmp_path)
    data_dir = layout.mace_data("smoke")
    build_mace_data(
        source_root(tmp_path),
        data_dir,
        elements=ELEMENTS,
        val_fraction=preset.val_fraction,
        seed=preset.seed,
        max_train_per_element=preset.max_train_per_element,
        max_val_per_element=preset.max_val_per_element,
        max_test_per_element=preset.max_test_per_element,
    )
    schedule = {"per_element_epochs": 2}  # the per-element models' own schedule (smoke's is 4)
    run_config = {"ops": {"mace_potential": {"config": {"per_element": True, **schedule}}}}
    instance = dg.DagsterInstance.ephemeral()
    result = materialize([mace_potential], tmp_path, run_config=run_config, instance=instance)
    assert result.success
    folder = layout.model_dir("mace_potential", "smoke")
    assert {f"{MODEL_NAME}.model", "mace_Li.model", "mace_Si.model"} <= {p.name for p in folder.iterdir()}

    # each element's model judged on that element's own official test (and val) cells only
    metrics = json.loads((folder / "metrics.json").read_text())
    per, whole = metrics["per_element"], metrics
    assert metrics["per_element_epochs_run"] == {"Li": 2, "Si": 2}
    assert metrics["epochs_run"] == preset.epochs == 4
    test_frames = read_extxyz(data_dir / "test.xyz")
    for element in ELEMENTS:
        n_test = sum(a.info["config_type"] == element for a in test_frames)
        assert per["test"][element]["n_configs"] == whole["test"][element]["n_configs"] == n_test > 0
        for key in ("energy_mae_meV_per_atom", "force_mae_meV_per_A", "energy_baseline_mae_meV_per_atom"):
            assert per["test"][element][key] >= 0
        assert per["test"][element] != whole["test"][element]  # another model, other errors
    assert per["test"]["all"]["n_configs"] == len(test_frames)
    # each element's model says its test error in the run's log as it ends, not only at the end
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    for element in ELEMENTS:
        (done,) = [m for m in logs if f"per-element MACE: {element} done, 2 epochs in " in m]
        mae = per["test"][element]["energy_mae_meV_per_atom"]
        assert f"test energy MAE {mae:.2f} meV/atom" in done
    rows = pl.read_csv(folder / "predictions_per_element.csv")
    assert sorted(rows["uid"]) == sorted(pl.read_csv(folder / "predictions.csv")["uid"])

    # trained on its element alone: the Li model knows no Si
    si = tmp_path / "si.xyz"
    from ase.io import write

    write(str(si), [a for a in test_frames if a.info["config_type"] == "Si"][:1], format="extxyz")
    with pytest.raises(MaceTrainingError):
        predict_with_mace(folder / "mace_Li.model", si, tmp_path / "si_pred.xyz", log=lambda m: None)

    # the UI: the per-element table beside GAP and MTP
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    table = meta["per-element models: test errors"].value
    assert all(f"| {element} |" in table for element in ELEMENTS)
    assert "per-element models: published references" in meta
    assert meta["per-element models: epochs run"].value == {"Li": 2, "Si": 2}

    # bench/mace_per_element.py trains one element as per_element does: the same errors
    from bench.mace_per_element import run as bench_run

    monkeypatch.setenv("MATASSETS_THREADS", "1")  # alone: the asset's Li had one thread too
    (li,) = bench_run(["Li"], "smoke", schedule, tmp_path)
    assert li["test_E"] == pytest.approx(per["test"]["Li"]["energy_mae_meV_per_atom"], rel=1e-6)
    assert li["val_E"] == pytest.approx(per["val"]["Li"]["energy_mae_meV_per_atom"], rel=1e-6)
    assert li["test_E_over_GAP"] == pytest.approx(li["test_E"] / 0.49)  # GAP's Li, Zuo et al.


def test_a_frame_that_is_not_an_elemental_cell_is_refused_by_name(tmp_path: Path) -> None:
    """Synthetic fixture: per-element MACE groups mlearn's elemental cells by their config_type; a
    compound (a data set's frame) is refused naming the file and the frame, not a KeyError."""
    from ase.build import bulk
    from ase.io import write

    from matassets.training.potential_per_element import neighbour_pairs

    si, nacl = bulk("Si", "diamond", a=5.43), bulk("NaCl", "rocksalt", a=5.64)
    si.info["config_type"] = "Si"
    path = tmp_path / "train.xyz"
    write(str(path), [si], format="extxyz")
    assert list(neighbour_pairs(path, 5.0)) == ["Si"]
    write(str(path), [si, nacl], format="extxyz")
    with pytest.raises(
        ValueError, match=r"train\.xyz: frame 1 \(ClNa, config_type None\): one MACE per element"
    ):
        neighbour_pairs(path, 5.0)


def test_the_costliest_element_starts_first_and_its_failure_stops_others(tmp_path: Path, monkeypatch) -> None:
    """Synthetic fixture: Si's cubic cell has 8 atoms (~4.7x the neighbour pairs of Cu's one-atom
    cell), so at one thread Si starts first although Cu comes first by name; Si has training frames
    but no validation frame, so it fails, and Cu, queued, must not start after it (nothing trains for
    an hour on a run that is already lost); the error names Si's file."""
    from ase.build import bulk
    from ase.io import write

    from matassets.levels import MACE
    from matassets.training.potential_per_element import neighbour_pairs, train_per_element

    cu, si = bulk("Cu", "fcc", a=3.6), bulk("Si", "diamond", a=5.43, cubic=True)
    cu.info["config_type"], si.info["config_type"] = "Cu", "Si"
    for split, frames in {"train": [cu, si], "val": [cu], "test": [cu]}.items():
        write(str(tmp_path / f"{split}.xyz"), frames, format="extxyz")
    pairs = neighbour_pairs(tmp_path / "train.xyz", 5.0)
    assert pairs["Si"] > 4 * pairs["Cu"]
    monkeypatch.setenv("MATASSETS_THREADS", "1")
    with pytest.raises(ValueError, match=r"val\.xyz: no Si frame to train on"):
        train_per_element(MACE["smoke"], tmp_path, {"Cu": -4.0, "Si": -5.0}, tmp_path / "work", log=print)
    assert (tmp_path / "work" / "Si").is_dir() and not (tmp_path / "work" / "Cu").exists()


def test_a_failed_element_stops_the_element_training_beside_it(tmp_path: Path, monkeypatch) -> None:
    """Synthetic fixture, two threads: Si (the costliest) starts its MACE training, scheduled for
    far more epochs than the test waits; Cu, beside it, has no validation frame and fails. Si's
    training is ended, not left to run for its hour, and the error raised is Cu's, not Si's stop."""
    from dataclasses import replace

    import numpy as np
    from ase.build import bulk
    from ase.io import write

    from matassets.data.mlearn import REF_ENERGY, REF_FORCES, REF_STRESS
    from matassets.levels import MACE
    from matassets.training.potential_per_element import train_per_element

    cu = bulk("Cu", "fcc", a=3.6)
    cu.info["config_type"] = "Cu"
    sis = []  # rattled cells with made-up labels that let Si's MACE train (a batch of 3 at smoke)
    for seed in range(4):
        si = bulk("Si", "diamond", a=5.43, cubic=True)
        si.rattle(0.05, seed=seed)
        si.info.update({"config_type": "Si", REF_ENERGY: -43.0 + 0.1 * seed, REF_STRESS: np.zeros(9)})
        si.arrays[REF_FORCES] = np.random.default_rng(seed).normal(0, 0.1, (len(si), 3))
        sis.append(si)
    for split, frames in {"train": [cu, *sis[:3]], "val": sis[3:], "test": sis[3:]}.items():
        write(str(tmp_path / f"{split}.xyz"), frames, format="extxyz")
    monkeypatch.setenv("MATASSETS_THREADS", "2")  # Si and Cu at once
    preset = replace(MACE["smoke"], per_element_epochs=100_000)
    lines: list[str] = []
    with pytest.raises(ValueError, match=r"val\.xyz: no Cu frame to train on"):
        train_per_element(preset, tmp_path, {"Cu": -4.0, "Si": -5.0}, tmp_path / "work", log=lines.append)
    assert any(line.startswith("[Si] starting MACE: ") for line in lines)  # its process had started
    assert "per-element MACE: Si stopped, another element failed" in lines
    assert not (tmp_path / "work" / "Si" / "run" / "mace_potential.model").exists()
