"""``relax``: relax structure files with a trained MACE potential (fixed cell, FIRE)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from matassets.cli import _common as common

ORDER = 35


def cmd_relax(args: argparse.Namespace) -> int:
    import torch

    from matassets.inference.calculator import load_calculator, relax
    from matassets.inference.inputs import StructureInputError
    from matassets.paths import Layout, default_root
    from matassets.training.mace_runner import threads_for_children

    torch.set_num_threads(threads_for_children())  # $MATASSETS_THREADS or one per core

    model_dir = (
        Path(args.model_dir)
        if args.model_dir
        else Layout(default_root()).model_dir(args.model, common.partition(args))
    )
    try:
        calc = load_calculator(model_dir)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    files, unread = common.structure_paths(args.files)  # a folder: its CIF/POSCAR files
    for line in unread:
        print(f"error: {line}", file=sys.stderr)
    failed = len(unread)
    for f in files:  # one JSON line or one error line per file; a bad file never stops the batch
        try:
            result = relax(
                f,
                model_dir,
                fmax=args.fmax,
                steps=args.steps,
                calculator=calc,
                max_seconds=args.max_seconds,
                max_sites=args.max_sites,
            )
        except StructureInputError as exc:  # the message starts with the file's name
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        except Exception as exc:  # noqa: BLE001 - anything else one file causes is that file's error
            print(f"error: {f}: {type(exc).__name__}: {exc}", file=sys.stderr)
            failed += 1
            continue
        row = {
            "file": f,
            "n_atoms": len(result.atoms),
            "energy_initial_eV": result.energy_initial,
            "energy_final_eV": result.energy_final,
            "fmax_initial_eV_per_A": result.fmax_initial,
            "fmax_final_eV_per_A": result.fmax_final,
            "steps": result.steps,
            "converged": result.converged,
        }
        if result.stopped:
            row["stopped"] = result.stopped
        if args.output:
            from ase.io import write

            out = Path(args.output) / f"{Path(f).stem}_relaxed.extxyz"
            out.parent.mkdir(parents=True, exist_ok=True)
            atoms = result.atoms.copy()
            write(str(out), atoms, format="extxyz")
            row["output"] = str(out)
        print(json.dumps(row))
        failed += 0 if result.converged else 1
    return 1 if failed else 0


def register(sub) -> None:
    p = sub.add_parser(
        "relax",
        help="relax structure files (CIF, POSCAR, extxyz…) with a trained MACE potential",
        description="Relaxes atomic positions (the cell is kept) with FIRE until every force is below "
        "--fmax; prints one JSON line per file, or one error line naming the file (files are checked "
        "like predict's: size and sites before parsing, NaN, overlapping atoms, partial occupancy, "
        "elements the potential does not know). Exit 1 if any file fails or does not converge.",
    )
    p.add_argument("files", nargs="+", help="CIF or POSCAR files, or folders of them")
    p.add_argument("--model", default="mace_potential", help="asset name (default mace_potential)")
    common.level_args(p)
    p.add_argument("--model-dir", help="a model folder instead of models/<model>/<level>/")
    p.add_argument("--fmax", type=float, default=0.01, help="force threshold, eV/Å (default 0.01)")
    p.add_argument("--steps", type=int, default=500, help="maximum optimizer steps (default 500)")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=600.0,
        help="wall-time limit per file, seconds (default 600); an unfinished relaxation is reported "
        "unconverged with the limit that stopped it",
    )
    p.add_argument(
        "--max-sites",
        type=int,
        default=None,
        help="refuse cells with more atoms, counted before parsing (default 1000)",
    )
    p.add_argument("--output", help="folder for the relaxed structures (extxyz)")
    p.set_defaults(func=cmd_relax)
