"""Evaluate a trained MACE potential on labelled extended-XYZ files, per element.

Predictions come from MACE's own ``mace.cli.eval_configs``, run in a child process (it loads the
pickled model, which needs MACE's process-wide ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``; ours never sets
it). The child writes the same frames back with ``MACE_energy``/``MACE_forces``/``MACE_stress``; this
module reads them with ASE and computes, per split and per element:

- energy MAE and RMSE in meV/atom,
- force MAE and RMSE in meV/Å over all Cartesian components,
- stress MAE in GPa over the six independent components,

each beside its baseline: the E0-only energy (what the model adds to the per-element reference
energies), zero forces and zero stress.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from matassets.data.mlearn import REF_ENERGY, REF_FORCES, REF_STRESS, read_extxyz
from matassets.training.mace_runner import MaceTrainingError, run_streaming

EV_PER_A3_TO_GPA = 160.21766208
VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


@dataclass
class Prediction:
    """One configuration: reference and predicted energy (eV), forces (eV/Å), stress (eV/Å³)."""

    uid: str
    split: str
    element: str  # the group it is reported under: mlearn's element, else the reduced formula
    n_atoms: int
    symbols: tuple[str, ...]  # every atom's element: the E0-only baseline sums their E0s
    energy_ref: float
    energy_pred: float
    forces_ref: np.ndarray
    forces_pred: np.ndarray
    stress_ref: np.ndarray | None
    stress_pred: np.ndarray | None


def predict_with_mace(
    model: Path,
    configs: Path,
    output: Path,
    log: Callable[[str], None] = print,
    batch_size: int = 16,
    device: str = "cpu",
    threads: int | None = None,
) -> Path:
    """``python -m mace.cli.eval_configs`` on ``configs`` (float32, with stress) → ``output``
    (``device``: a preset's, ``training.distributed.device_type``; ``threads``: as
    ``mace_runner.run_streaming``)."""
    import sys

    from matassets.training.distributed import device_type

    cmd = [
        sys.executable, "-m", "mace.cli.eval_configs",
        "--configs", str(configs),
        "--model", str(model),
        "--output", str(output),
        "--device", device_type(device),
        "--default_dtype", "float32",
        "--batch_size", str(batch_size),
        "--compute_stress",
    ]  # fmt: skip
    rc, lines = run_streaming(cmd, log, threads=threads)
    if rc != 0 or not output.exists():
        tail = "\n".join(lines[-20:])
        raise MaceTrainingError(f"mace eval_configs exited with {rc}; last lines:\n{tail}")
    return output


def read_predictions(path: Path) -> list[Prediction]:
    out = []
    for atoms in read_extxyz(path):
        info = atoms.info
        stress_ref = info.get(REF_STRESS)
        stress_pred = info.get("MACE_stress")
        out.append(
            Prediction(
                uid=str(info.get("uid", "")),
                split=str(info.get("split", "")),
                element=str(info.get("config_type", atoms.get_chemical_formula(mode="reduce"))),
                n_atoms=len(atoms),
                symbols=tuple(atoms.get_chemical_symbols()),
                energy_ref=float(info[REF_ENERGY]),
                energy_pred=float(info["MACE_energy"]),
                forces_ref=np.asarray(atoms.arrays[REF_FORCES], float),
                forces_pred=np.asarray(atoms.arrays["MACE_forces"], float),
                stress_ref=None if stress_ref is None else np.reshape(stress_ref, (3, 3)),
                stress_pred=None if stress_pred is None else _as_matrix(stress_pred),
            )
        )
    return out


def _as_matrix(stress) -> np.ndarray:
    s = np.asarray(stress, float).ravel()
    if s.size == 9:
        return s.reshape(3, 3)
    if s.size == 6:  # ASE Voigt order xx yy zz yz xz xy
        m = np.diag(s[:3])
        for value, (i, j) in zip(s[3:], VOIGT[3:], strict=True):
            m[i, j] = m[j, i] = value
        return m
    raise ValueError(f"stress with {s.size} numbers")


def _voigt(m: np.ndarray) -> np.ndarray:
    return np.array([m[i, j] for i, j in VOIGT])


def error_metrics(preds: list[Prediction], e0s: dict[str, float]) -> dict[str, float]:
    """Errors of a group of predictions, each beside its trivial baseline."""
    if not preds:
        return {"n_configs": 0}
    n = np.array([p.n_atoms for p in preds], float)
    de = np.array([p.energy_pred - p.energy_ref for p in preds]) / n * 1000.0  # meV/atom
    # the E0-only energy of a frame: the sum of its atoms' E0s (any composition, a data set's
    # mixed frames too); an element without an E0 gives NaN, left out by nanmean below
    e0_only = np.array([sum(e0s.get(s, np.nan) for s in p.symbols) for p in preds])
    de_base = (e0_only - np.array([p.energy_ref for p in preds])) / n * 1000.0
    df = np.concatenate([(p.forces_pred - p.forces_ref).ravel() for p in preds]) * 1000.0
    f_ref = np.concatenate([p.forces_ref.ravel() for p in preds]) * 1000.0
    out = {
        "n_configs": len(preds),
        "n_atoms": int(n.sum()),
        "energy_mae_meV_per_atom": float(np.mean(np.abs(de))),
        "energy_rmse_meV_per_atom": float(np.sqrt(np.mean(de**2))),
        "energy_baseline_mae_meV_per_atom": float(np.nanmean(np.abs(de_base))),
        "force_mae_meV_per_A": float(np.mean(np.abs(df))),
        "force_rmse_meV_per_A": float(np.sqrt(np.mean(df**2))),
        "force_baseline_mae_meV_per_A": float(np.mean(np.abs(f_ref))),
    }
    with_stress = [p for p in preds if p.stress_ref is not None and p.stress_pred is not None]
    if with_stress:
        ds = np.concatenate([_voigt(p.stress_pred - p.stress_ref) for p in with_stress])
        s_ref = np.concatenate([_voigt(p.stress_ref) for p in with_stress])
        out["stress_mae_GPa"] = float(np.mean(np.abs(ds)) * EV_PER_A3_TO_GPA)
        out["stress_baseline_mae_GPa"] = float(np.mean(np.abs(s_ref)) * EV_PER_A3_TO_GPA)
    return out


def metrics_by_split_and_element(
    preds: list[Prediction], e0s: dict[str, float]
) -> dict[str, dict[str, dict[str, float]]]:
    """{split: {"all": {...}, "<El>": {...}}} for every split and element present."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for split in sorted({p.split for p in preds}):
        part = [p for p in preds if p.split == split]
        out[split] = {"all": error_metrics(part, e0s)}
        for element in sorted({p.element for p in part}):
            out[split][element] = error_metrics([p for p in part if p.element == element], e0s)
    return out


@dataclass
class Evaluation:
    metrics: dict
    predictions: list[Prediction]
    seconds: float


def evaluate_potential(
    model: Path,
    files: list[Path],
    work_dir: Path,
    e0s: dict[str, float],
    log: Callable[[str], None] = print,
    batch_size: int = 16,
    device: str = "cpu",
    threads: int | None = None,
) -> Evaluation:
    """Predict every frame of ``files`` (split named in each frame's ``split``) with one MACE call."""
    from ase.io import write

    start = time.perf_counter()
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    frames = [atoms for f in files for atoms in read_extxyz(f)]
    joined = work_dir / "eval_input.xyz"
    write(str(joined), frames, format="extxyz")
    output = predict_with_mace(
        model, joined, work_dir / "eval_predictions.xyz", log, batch_size, device, threads
    )
    preds = read_predictions(output)
    return Evaluation(metrics_by_split_and_element(preds, e0s), preds, time.perf_counter() - start)


def parity_series(preds: list[Prediction], quantity: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(true, predicted) per split for ``parity_plot``: energy in eV/atom, forces in eV/Å."""
    series = {}
    for split in ("val", "test"):
        part = [p for p in preds if p.split == split]
        if quantity == "energy":
            y = np.array([p.energy_ref / p.n_atoms for p in part])
            yhat = np.array([p.energy_pred / p.n_atoms for p in part])
        elif quantity == "forces":
            y = np.concatenate([p.forces_ref.ravel() for p in part]) if part else np.array([])
            yhat = np.concatenate([p.forces_pred.ravel() for p in part]) if part else np.array([])
        else:
            raise ValueError(f"unknown quantity {quantity!r}")
        series[split] = (y, yhat)
    return series
