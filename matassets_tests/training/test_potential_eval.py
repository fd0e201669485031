"""The MACE evaluation's E0-only baseline for frames of any composition (synthetic frames: the
numbers are chosen by hand so the expected baseline can be written down)."""

from __future__ import annotations

import numpy as np
import pytest

from matassets.training.gates import beats_baseline
from matassets.training.potential_eval import Prediction, error_metrics, metrics_by_split_and_element


def frame(symbols: tuple[str, ...], energy_ref: float, energy_pred: float) -> Prediction:
    n = len(symbols)
    forces = np.full((n, 3), 0.1)
    return Prediction(
        uid="x", split="val", element="".join(sorted(set(symbols))), n_atoms=n, symbols=symbols,
        energy_ref=energy_ref, energy_pred=energy_pred, forces_ref=forces, forces_pred=forces * 0.5,
        stress_ref=None, stress_pred=None,
    )  # fmt: skip


def test_a_mixed_frame_gets_the_sum_of_its_atoms_e0s_as_baseline():
    e0s = {"Li": -2.0, "Si": -5.0}
    # Li2Si: E0-only energy -9 eV, reference -10.5 eV: baseline error 1.5 eV over 3 atoms
    metrics = error_metrics([frame(("Li", "Li", "Si"), -10.5, -10.4)], e0s)
    assert metrics["energy_baseline_mae_meV_per_atom"] == pytest.approx(500.0)
    assert metrics["energy_mae_meV_per_atom"] == pytest.approx(100.0 / 3)
    # so the gate can pass a data set's potential on mixed frames (a NaN baseline failed it always)
    by_split = metrics_by_split_and_element([frame(("Li", "Li", "Si"), -10.5, -10.4)], e0s)
    assert beats_baseline(by_split).passed


def test_an_elemental_frame_keeps_the_per_element_baseline():
    metrics = error_metrics([frame(("Si",) * 4, -22.0, -21.9)], {"Si": -5.0})
    assert metrics["energy_baseline_mae_meV_per_atom"] == pytest.approx(500.0)
