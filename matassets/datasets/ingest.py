"""Reading a data set's input: which format it is, the canonical table it gives, which of its
columns are properties (each described by a --property or a canonical name), and the copy of its
files kept with the data set."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl

from matassets.data import schema
from matassets.data.errors import DataInputError
from matassets.datasets.manifest import sha256_file
from matassets.datasets.properties import Property, canonical_properties

EXTXYZ_SUFFIXES = (".xyz", ".extxyz")


def detect_format(path: Path) -> str:
    """``structure_folder``, ``id_prop_folder``, ``table`` or ``extxyz`` from what ``path`` is."""
    from matassets.data.user_files import TARGETS_FILES, _looks_numeric

    path = Path(path)
    if path.is_dir():
        id_prop = path / "id_prop.csv"
        if id_prop.is_file() and not (path / TARGETS_FILES[0]).is_file():
            first = id_prop.read_text(encoding="utf-8-sig", errors="replace").splitlines()[:1]
            cells = first[0].split(",") if first else []
            if len(cells) >= 2 and all(_looks_numeric(c) for c in cells[1:]):
                return "id_prop_folder"
        return "structure_folder"
    if not path.exists():
        raise DataInputError(
            path,
            "does not exist: give a folder of CIF/POSCAR files, a CSV/JSON table or an extended-XYZ file",
        )
    suffix = path.suffix.lower()
    if suffix in (".csv", ".json"):
        return "table"
    if suffix in EXTXYZ_SUFFIXES:
        return "extxyz"
    raise DataInputError(
        path, f"unsupported file type {suffix!r}: use a folder, .csv, .json, .xyz or .extxyz"
    )


def read_input(path: Path, fmt: str, properties: Sequence[Property]) -> pl.DataFrame:
    """The input as the canonical table (structures as given, not parsed)."""
    from matassets.data.user_files import load_user_source

    path = Path(path)
    if fmt == "extxyz":
        from matassets.datasets.extxyz import load_extxyz

        return load_extxyz(path)
    if fmt == "id_prop_folder":
        if not properties:
            raise DataInputError(
                path / "id_prop.csv",
                "has no header row, so its values have no name: name the property with "
                "--property NAME:UNIT[:TASK] (e.g. --property band_gap or --property kappa:W/mK)",
            )
        return load_user_source(path, None, target=properties[0].name)
    return load_user_source(path, None)


def resolve_properties(frame: pl.DataFrame, given: Sequence[Property], where: Path) -> list[Property]:
    """Every property column of ``frame`` described: a --property for it, or a canonical name."""
    columns = schema.property_columns(frame)
    canon = canonical_properties()
    by_name = {p.name: p for p in given}
    stray = [p.name for p in given if p.name not in columns]
    if stray:
        raise DataInputError(where, f"--property {stray}: no such column; the property columns are {columns}")
    undescribed = [c for c in columns if c not in by_name and c not in canon]
    if undescribed:
        raise DataInputError(
            where,
            f"column(s) {undescribed} are not canonical properties: describe each with "
            f"--property {undescribed[0]}:UNIT[:regression|classification] (UNIT '-' = none)",
        )
    # only the columns that hold values (a canonical column the input never filled is not a property)
    present = [c for c in columns if c in by_name or frame[c].null_count() < frame.height]
    return [by_name.get(c) or canon[c] for c in present]


def check_values(frame: pl.DataFrame, props: Iterable[Property], where: Path) -> None:
    """A classification property needs whole-number labels: refuse the file early, naming the ids."""
    for p in props:
        if p.task != "classification" or p.name not in frame.columns:
            continue
        col = frame[p.name]
        bad = [
            i
            for i, v in zip(frame[schema.ID], col, strict=True)
            if v is not None and math.isfinite(v) and not float(v).is_integer()
        ]
        if bad:
            raise DataInputError(
                where,
                f"{p.name} is a classification property but ids {bad[:10]} have non-integer values",
                field=p.name,
            )


def copy_input(path: Path, dest: Path, fmt: str) -> list[Path]:
    """Copy the input files (structure files, CSV/JSON, XYZ) under ``dest``; returns them."""
    from matassets.data.user_files import STRUCTURE_SUFFIXES, is_structure_file

    dest.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        files = [p for p in sorted(path.iterdir()) if is_structure_file(p) or p.suffix.lower() == ".csv"]
    elif fmt == "table":
        files = [path] + [
            p
            for p in sorted(path.parent.iterdir())
            if p != path and p.is_file() and p.suffix.lower() in STRUCTURE_SUFFIXES
        ]
    else:
        files = [path]
    out = []
    for f in files:
        target = dest / f.name
        shutil.copy2(f, target)
        out.append(target)
    return out


def file_entries(files: Iterable[Path], folder: Path, version: int) -> list[dict]:
    return [
        {
            "path": str(f.relative_to(folder)),
            "sha256": sha256_file(f),
            "bytes": f.stat().st_size,
            "version": version,
        }
        for f in files
    ]


def with_defaults(fmt: str, given: Sequence[Property]) -> list[Property]:
    """``given`` plus what the format itself says (extended XYZ: ``energy`` in eV, ASE's unit)."""
    out = list(given)
    if fmt == "extxyz" and "energy" not in {p.name for p in out}:
        from matassets.datasets.extxyz import ENERGY

        out.append(ENERGY)
    return out
