"""Use a trained MACE potential from Python: an ASE calculator and a structure relaxation.

    from matassets.inference.calculator import load_calculator, relax
    calc = load_calculator("models/mace_potential/std")      # an ase Calculator
    result = relax("POSCAR", "models/mace_potential/std")     # RelaxResult (energies, forces, atoms)

The model folder holds MACE's TorchScript export (``*_compiled.model``). It is loaded with
``torch.jit.load``, which runs no pickle code, and handed to MACE's own ``MACECalculator``. Importing
``mace`` sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` process-wide (it would make every later
``torch.load`` unsafe); :func:`load_calculator` restores the variable right after the import.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

_ENV = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"


@contextlib.contextmanager
def _mace_import_guard():
    """Keep ``import mace`` from leaving TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD set in this process."""
    before = os.environ.get(_ENV)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(_ENV, None)
        else:
            os.environ[_ENV] = before


def compiled_model_path(model_dir: str | Path) -> Path:
    """The TorchScript model in a model folder (or the file itself when a file is given)."""
    path = Path(model_dir)
    if path.is_file():
        return path
    found = sorted(path.glob("*_compiled.model"))
    if not found:
        raise FileNotFoundError(
            f"no *_compiled.model in {path}: train it first (matassets run phase3 --algorithm mace)"
        )
    return found[0]


def load_calculator(model_dir: str | Path, dtype: str = "float32", device: str = "cpu"):
    """An ASE calculator (energy, forces, stress) for the MACE potential in ``model_dir``.

    ``dtype="float64"`` converts the weights to double precision (for finite-difference checks).
    """
    import torch

    with _mace_import_guard():
        from mace.calculators import MACECalculator

    class _Calculator(MACECalculator):
        """MACE's calculator, run without TorchScript's profiling executor: that one re-specialises
        the graph for every new neighbour count (about 1 s per call on a CPU, instead of ~30 ms)."""

        def calculate(self, *args, **kwargs):
            with torch.jit.optimized_execution(False):
                return super().calculate(*args, **kwargs)

    from matassets.training.model_folder import verify

    path = compiled_model_path(model_dir)
    verify(path.parent)  # a file changed since training is refused (IntegrityError names it)
    model = torch.jit.load(str(path), map_location=device)
    return _Calculator(models=model, device=device, default_dtype=dtype)


@dataclass
class RelaxResult:
    atoms: object  # ase.Atoms, relaxed (positions only; the cell is kept)
    energy_initial: float  # eV
    energy_final: float  # eV
    fmax_initial: float  # eV/Å
    fmax_final: float  # eV/Å
    steps: int
    converged: bool


def read_atoms(path: str | Path):
    """A structure file (CIF, POSCAR, extxyz, … anything ASE reads) as ase.Atoms."""
    from ase.io import read

    return read(str(path))


def relax(
    structure,
    model_dir: str | Path,
    fmax: float = 0.01,
    steps: int = 500,
    calculator=None,
):
    """Relax atomic positions (fixed cell) with FIRE until every force is below ``fmax`` eV/Å.

    ``structure`` is a file path or an ase.Atoms (copied, never modified).
    """
    import numpy as np
    from ase.optimize import FIRE

    atoms = read_atoms(structure) if isinstance(structure, str | Path) else structure.copy()
    atoms.calc = calculator or load_calculator(model_dir)
    e0 = float(atoms.get_potential_energy())
    f0 = float(np.linalg.norm(atoms.get_forces(), axis=1).max(initial=0.0))
    optimizer = FIRE(atoms, logfile=None)
    converged = bool(optimizer.run(fmax=fmax, steps=steps))
    forces = atoms.get_forces()
    return RelaxResult(
        atoms=atoms,
        energy_initial=e0,
        energy_final=float(atoms.get_potential_energy()),
        fmax_initial=f0,
        fmax_final=float(np.linalg.norm(forces, axis=1).max(initial=0.0)),
        steps=int(optimizer.get_number_of_steps()),
        converged=converged,
    )
