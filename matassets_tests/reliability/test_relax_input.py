"""``matassets relax`` checks its files like ``predict`` does, and one bad file never stops a batch.

A real smoke MACE potential (trained once for the module on the mlearn data: Cu, Ge, Li, Mo, Ni,
Si) relaxes a batch of files through the command line, in a subprocess with a time limit (before
these checks a NaN coordinate hung ``relax`` at 100 % CPU). Each file gives one JSON result on
stdout or one ``error: <file>: <reason>`` line on stderr: NaN coordinates, two atoms on one site,
atoms closer than the validation minimum, partial occupancies, elements the potential does not know
(named, with the ones it knows; it used to say ``np.int64(11) is not in list``), a truncated CIF, a
file over the size limit and a cell over the site limit (both refused before parsing, naming the
limit and how to raise it). The step limit and the wall-time limit stop a relaxation with
``"converged": false`` and say which limit stopped it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SI = ("Si", 8)


def poscar(symbols_counts: list[tuple[str, int]], coords: list[list], a: float = 5.43) -> str:
    symbols = " ".join(s for s, _ in symbols_counts)
    counts = " ".join(str(n) for _, n in symbols_counts)
    rows = "\n".join(" ".join(str(x) for x in c) for c in coords)
    return f"test cell\n1.0\n{a} 0 0\n0 {a} 0\n0 0 {a}\n{symbols}\n{counts}\ndirect\n{rows}\n"


DIAMOND = [
    [0, 0, 0],
    [0, 0.5, 0.5],
    [0.5, 0, 0.5],
    [0.5, 0.5, 0],
    [0.25, 0.25, 0.25],
    [0.25, 0.75, 0.75],
    [0.75, 0.25, 0.75],
    [0.75, 0.75, 0.25],
]


@pytest.fixture(scope="module")
def mace_dir(tmp_path_factory) -> Path:
    """A smoke MACE potential trained on the real mlearn data (one torch thread)."""
    import dagster as dg

    from matassets.assets.phase3_mace import mace_potential, mace_training_data
    from matassets.assets.resources import ProjectResource

    root = tmp_path_factory.mktemp("relax_root")
    before = os.environ.get("MATASSETS_THREADS")
    os.environ["MATASSETS_THREADS"] = "1"
    try:
        result = dg.materialize(
            [mace_training_data, mace_potential],
            partition_key="smoke",
            resources={"project": ProjectResource(root=str(root))},
            raise_on_error=False,
        )
    finally:
        if before is None:
            os.environ.pop("MATASSETS_THREADS", None)
        else:
            os.environ["MATASSETS_THREADS"] = before
    assert result.success
    return root / "models" / "mace_potential" / "smoke"


def relax(mace_dir: Path, files: list[Path], *options: str, env: dict | None = None, timeout: int = 240):
    """``matassets relax`` in a subprocess: (exit code, JSON rows by file, error lines by file)."""
    argv = [sys.executable, "-m", "matassets.cli", "relax", *map(str, files), "--model-dir", str(mace_dir)]
    done = subprocess.run(
        [*argv, *options],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "MATASSETS_THREADS": "1", **(env or {})},
    )
    rows = {
        json.loads(line)["file"]: json.loads(line)
        for line in done.stdout.splitlines()
        if line.startswith("{")
    }
    errors: dict[str, list[str]] = {}
    for line in done.stderr.splitlines():
        if line.startswith("error: "):
            name = line.removeprefix("error: ").split(": ", 1)[0]
            errors.setdefault(name, []).append(line)
    return done.returncode, rows, errors, done.stderr


@pytest.mark.slow
def test_relax_refuses_bad_files_one_line_each_and_the_batch_goes_on(mace_dir, tmp_path):
    from pymatgen.core import Lattice, Structure

    files: dict[str, tuple[str, str]] = {  # name -> (text, words of the error)
        "nan_coord.vasp": (poscar([SI], [*DIAMOND[:7], ["nan", 0.75, 0.25]]), "not finite"),
        "same_site.vasp": (poscar([SI], [*DIAMOND[:7], DIAMOND[0]]), "atoms closer than"),
        "too_close.vasp": (poscar([SI], [*DIAMOND[:7], [0.0008, 0, 0]]), "atoms closer than"),
        "partial.cif": (
            Structure(Lattice.cubic(5.43), [{"Si": 0.5, "Ge": 0.5}], [[0, 0, 0]]).to(fmt="cif"),
            "disordered (partially occupied) sites",
        ),
        "nacl.vasp": (
            poscar(
                [("Na", 4), ("Cl", 4)],
                DIAMOND[:4] + [[x + 0.5 if x == 0 else x - 0.5 for x in c] for c in DIAMOND[:4]],
                a=5.64,
            ),
            "elements the potential does not know: Cl, Na; it knows Cu, Ge, Li, Mo, Ni, Si",
        ),
        "truncated.cif": (
            Structure(Lattice.cubic(5.43), ["Si"] * 8, DIAMOND).to(fmt="cif")[:300],
            "unparsable cif",
        ),
        "many_sites.vasp": (
            poscar([("Si", 5000)], DIAMOND[:1]),
            "5000 sites (counted before parsing) exceeds the limit of 1000; raise it with --max-sites",
        ),
    }
    good = tmp_path / "si.vasp"
    good.write_text(poscar([SI], [[0.01, 0, 0], *DIAMOND[1:]]))
    paths = [good]
    for name, (text, _) in files.items():
        (tmp_path / name).write_text(text)
        paths.append(tmp_path / name)
    big = tmp_path / "big.vasp"  # a real cell, padded with comment lines past a small size limit
    big.write_text(poscar([SI], DIAMOND) + "\n" * 50_000)
    paths.append(big)

    rc, rows, errors, stderr = relax(
        mace_dir, paths, "--fmax", "0.05", env={"MATASSETS_MAX_STRUCTURE_MB": "0.01"}
    )
    assert rc == 1
    assert list(rows) == [str(good)], stderr  # one result, for the good file only
    assert (
        rows[str(good)]["converged"]
        and rows[str(good)]["energy_final_eV"] < rows[str(good)]["energy_initial_eV"]
    )
    for name, (_, words) in files.items():
        lines = errors.get(str(tmp_path / name), [])
        assert len(lines) == 1 and words in lines[0], (name, lines, stderr[-2000:])
    (line,) = errors[str(big)]
    assert "over the limit of 0.01 MB; raise it with MATASSETS_MAX_STRUCTURE_MB" in line
    assert "Traceback" not in stderr


@pytest.mark.slow
def test_relax_stops_at_the_step_and_wall_time_limits(mace_dir, tmp_path):
    rattled = tmp_path / "rattled.vasp"
    rattled.write_text(poscar([SI], [[0.05, 0.02, 0], [0.02, 0.47, 0.53], *DIAMOND[2:]]))
    rc, rows, errors, stderr = relax(mace_dir, [rattled], "--fmax", "0.0001", "--steps", "3")
    row = rows[str(rattled)]
    assert rc == 1 and not row["converged"] and row["steps"] == 3, stderr
    assert row["stopped"] == "step limit (3 steps; raise it with --steps)"
    rc, rows, errors, stderr = relax(mace_dir, [rattled], "--fmax", "0.0001", "--max-seconds", "0.01")
    row = rows[str(rattled)]
    assert rc == 1 and not row["converged"] and row["steps"] < 500, stderr
    assert row["stopped"].startswith("wall-time limit (0.01 s; raise it with --max-seconds)")


def test_predict_and_relax_inputs_are_refused_before_parsing(tmp_path):
    """Size and site limits are checked before the file is parsed (a 200 MB file is never read; it
    used to reach 4.8 GB in 45 s before the 1000-site check); each message names the file, the limit
    and how to raise it."""
    import time
    import tracemalloc

    from pymatgen.core import Lattice, Structure

    from matassets.inference.predict import PredictInputError, read_structure_file

    many = tmp_path / "many.vasp"
    many.write_text(poscar([("Si", 5000)], DIAMOND[:1]))
    with pytest.raises(
        PredictInputError,
        match=r"5000 sites \(counted before parsing\) exceeds the limit of 1000; raise it with --max-sites N",
    ):
        read_structure_file(many)
    with pytest.raises(PredictInputError) as info:  # a higher limit gets past the count, to the parse
        read_structure_file(many, max_sites=6000)
    assert "counted before parsing" not in str(info.value)

    huge = tmp_path / "huge.cif"
    with open(huge, "wb") as fh:
        fh.truncate(200_000_000)  # sparse: 200 MB on paper, nothing on disk
    tracemalloc.start()  # (the modules are imported by now: the calls above)
    t0 = time.monotonic()
    with pytest.raises(PredictInputError) as info:
        read_structure_file(huge)
    elapsed, (_, peak) = time.monotonic() - t0, tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert str(info.value) == (
        f"{huge}: the structure file is 200.0 MB, over the limit of 20 MB; "
        "raise it with MATASSETS_MAX_STRUCTURE_MB=<larger> if this input is meant"
    )
    assert elapsed < 2 and peak < 5e6

    rows = Structure(Lattice.cubic(60.0), ["Si"] * 1500, [[i / 1500, 0.5, 0.5] for i in range(1500)])
    cif = tmp_path / "many.cif"
    cif.write_text(rows.to(fmt="cif"))
    with pytest.raises(PredictInputError) as info:
        read_structure_file(cif)
    message = str(info.value)
    assert message.startswith(f"{cif}: ") and "1500 sites" in message and "counted before parsing" in message
    assert message.endswith("the limit is 1000: raise it with --max-sites N"), message
