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

from dataclasses import dataclass
from pathlib import Path

from matassets import environment


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

    with environment.restored("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"):  # set by ``import mace``
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
    stopped: str | None = None  # which limit stopped an unconverged relaxation


def read_atoms(path: str | Path, max_sites: int | None = None):
    """A CIF, POSCAR or extended-XYZ file as ase.Atoms, checked like ``predict``'s input
    (``inference.inputs``: size and site limits before parsing, then the training-data checks)."""
    from pymatgen.io.ase import AseAtomsAdaptor

    from matassets.inference.inputs import MAX_SITES, read_structure_file

    structure = read_structure_file(Path(path), max_sites or MAX_SITES)
    return AseAtomsAdaptor.get_atoms(structure)


def check_atoms(atoms, name: str = "the structure", max_sites: int | None = None) -> None:
    """The training-data checks on ase.Atoms given directly (``StructureInputError`` if any fails)."""
    from pymatgen.io.ase import AseAtomsAdaptor

    from matassets.data.validation import structure_problem
    from matassets.inference.inputs import MAX_SITES, StructureInputError
    from matassets.levels import DataPreset

    try:
        structure = AseAtomsAdaptor.get_structure(atoms)
    except (ValueError, TypeError) as exc:
        raise StructureInputError(f"{name}: {exc}") from exc
    problem = structure_problem(structure, DataPreset.min_distance, max_sites or MAX_SITES)
    if problem:
        raise StructureInputError(f"{name}: {problem}")


def check_elements(atoms, calculator, name: str = "the structure") -> None:
    """Refuse elements the potential was not trained on, naming them and the ones it knows (MACE
    itself fails with ``np.int64(11) is not in list``)."""
    from ase.data import chemical_symbols

    from matassets.inference.inputs import StructureInputError

    table = getattr(calculator, "z_table", None)
    if table is None:
        return
    known = {int(z) for z in table.zs}
    unknown = sorted({int(z) for z in atoms.numbers} - known)
    if unknown:
        names = ", ".join(sorted(chemical_symbols[z] for z in unknown))
        knows = ", ".join(sorted(chemical_symbols[z] for z in known))
        raise StructureInputError(f"{name}: elements the potential does not know: {names}; it knows {knows}")


def _fmax(forces) -> float:
    import numpy as np

    return float(np.linalg.norm(forces, axis=1).max(initial=0.0))


def relax(
    structure,
    model_dir: str | Path,
    fmax: float = 0.01,
    steps: int = 500,
    calculator=None,
    max_seconds: float | None = 600.0,
    max_sites: int | None = None,
):
    """Relax atomic positions (fixed cell) with FIRE until every force is below ``fmax`` eV/Å.

    ``structure`` is a file path (read and checked like ``predict``'s input) or an ase.Atoms
    (checked, copied, never modified). Elements the potential does not know are refused. The
    relaxation stops unconverged after ``steps`` optimizer steps or ``max_seconds`` of wall time
    (``RelaxResult.stopped`` says which), and fails if the forces stop being finite numbers.
    """
    import time

    import numpy as np
    from ase.optimize import FIRE

    from matassets.inference.inputs import StructureInputError

    if isinstance(structure, str | Path):
        name = str(structure)
        atoms = read_atoms(structure, max_sites)
    else:
        name = "the structure"
        check_atoms(structure, name, max_sites)
        atoms = structure.copy()
    atoms.calc = calculator or load_calculator(model_dir)
    check_elements(atoms, atoms.calc, name)
    start = time.monotonic()
    e0 = float(atoms.get_potential_energy())
    forces = atoms.get_forces()
    if not (np.isfinite(e0) and np.isfinite(forces).all()):
        raise StructureInputError(f"{name}: the potential gives no finite energy and forces for it")
    f0 = _fmax(forces)
    optimizer = FIRE(atoms, logfile=None)
    converged, stopped = False, None
    for converged in optimizer.irun(fmax=fmax, steps=steps):
        if not np.isfinite(atoms.get_forces()).all():
            raise StructureInputError(
                f"{name}: the relaxation diverged (forces not finite after {optimizer.nsteps} steps)"
            )
        if converged:
            break
        if max_seconds is not None and time.monotonic() - start > max_seconds:
            stopped = f"wall-time limit ({max_seconds:g} s; raise it with --max-seconds)"
            break
    if not converged and stopped is None:
        stopped = f"step limit ({steps} steps; raise it with --steps)"
    return RelaxResult(
        atoms=atoms,
        energy_initial=e0,
        energy_final=float(atoms.get_potential_energy()),
        fmax_initial=f0,
        fmax_final=_fmax(atoms.get_forces()),
        steps=int(optimizer.nsteps),
        converged=bool(converged),
        stopped=None if converged else stopped,
    )
