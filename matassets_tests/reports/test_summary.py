"""``matassets summary``: a level's data and every model's headline metric, whatever its shape."""

from __future__ import annotations

import json
from pathlib import Path


def _write(folder: Path, metrics: dict) -> None:
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")


def test_summary_reads_a_mace_potential_and_shows_units_beside_baselines(smoke_copy, monkeypatch, capsys):
    """Issue #21: ``summary`` crashed with KeyError: 'n' once the MACE smoke model existed.

    Synthetic fixture: hand-written metrics.json files in the MACE shape ({split: {"all": ...,
    "<element>": ...}}, no "n") and the CGCNN shape, beside the real smoke data."""
    from matassets.cli import main

    mace = {
        "energy_mae_meV_per_atom": 12.0,
        "energy_baseline_mae_meV_per_atom": 60.0,
        "force_mae_meV_per_A": 150.0,
        "force_baseline_mae_meV_per_A": 300.0,
        "stress_mae_GPa": 1.589,
        "stress_baseline_mae_GPa": 1.0,
    }
    split = {"all": mace, "Cu": mace}
    _write(smoke_copy / "models/mace_potential/smoke", {"train": split, "val": split, "test": split})
    task = {"n": 7, "mae": 0.25, "baseline_mad": 1.0, "r2": 0.8, "mad_mae_ratio": 4.0}
    split = {"formation_energy": task}
    _write(smoke_copy / "models/cgcnn_formation_energy/smoke", {"train": split, "val": split, "test": split})
    monkeypatch.setenv("MATASSETS_ROOT", str(smoke_copy))

    assert main(["summary", "--level", "smoke"]) == 0
    out = capsys.readouterr().out
    assert (
        "model cgcnn_formation_energy: test formation_energy: MAE 0.25 eV/atom vs baseline 1 eV/atom "
        "(ratio 4: better) (n=7)" in out
    )
    assert "model mace_potential: test energy (meV/atom): MAE 12 meV/atom vs baseline 60 meV/atom" in out
    assert "model mace_potential: test stress (GPa): MAE 1.589 GPa vs baseline 1 GPa" in out
    assert "NOT better than the baseline" in out.splitlines()[-1]
