"""The canonical table every source produces, and the targets it can carry.

One row per crystal. ``structure`` holds the structure as text in ``structure_format``
(``pymatgen_json``, ``cif`` or ``poscar``); it is parsed once, by validation, so an unreadable
structure becomes a quarantined row that names where it came from (``origin``) instead of a crash.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from matassets.datasets.properties import Property, canonical_properties

ID = "id"
STRUCTURE = "structure"
STRUCTURE_FORMAT = "structure_format"
FORMULA = "formula"
SPACEGROUP = "spacegroup"
NSITES = "nsites"
SOURCE = "source"
ORIGIN = "origin"
REFERENCE_SPLIT = "reference_split"

STRUCTURE_FORMATS = ("pymatgen_json", "cif", "poscar")


# A property a model can learn (name, unit, task, plausible range). The canonical ones are written
# once, in matassets/datasets/builtin/properties.json; a data set's manifest may add others.
Target = Property


class _Targets(dict):
    """The canonical properties (iteration, ``in``, ``len`` see only them); ``TARGETS[name]`` also
    finds a data set's own property once the data set's assets registered it
    (``register_properties``), so the trainers read its unit and task the same way."""

    def __missing__(self, name: str) -> Target:
        if name in _REGISTERED:
            return _REGISTERED[name]
        raise KeyError(name)


_REGISTERED: dict[str, Target] = {}
TARGETS: dict[str, Target] = _Targets(canonical_properties())


def register_properties(properties: Iterable[Target]) -> None:
    """Make a data set's own properties known to ``TARGETS[name]`` in this process (a data set's
    training asset calls it before training; a canonical name keeps its canonical definition)."""
    for prop in properties:
        if prop.name not in TARGETS:
            _REGISTERED[prop.name] = prop


COLUMNS: dict[str, pl.DataType] = {
    ID: pl.String(),
    STRUCTURE: pl.String(),
    STRUCTURE_FORMAT: pl.String(),
    FORMULA: pl.String(),
    SPACEGROUP: pl.Int64(),
    NSITES: pl.Int64(),
    SOURCE: pl.String(),
    ORIGIN: pl.String(),
    REFERENCE_SPLIT: pl.String(),
    **{name: pl.Float64() for name in TARGETS},
}


def columns(properties: Iterable[str] = ()) -> dict[str, pl.DataType]:
    """The canonical columns plus a data set's own properties (Float64, after the canonical ones)."""
    extra = [p for p in dict.fromkeys(properties) if p not in COLUMNS]
    return {**COLUMNS, **{p: pl.Float64() for p in extra}}


def property_columns(frame: pl.DataFrame) -> list[str]:
    """The table's property columns: the canonical targets and any data set's own (Float64 columns
    beyond the canonical ones)."""
    extra = [c for c, t in frame.schema.items() if c not in COLUMNS and c != "dup_group" and t.is_numeric()]
    return [c for c in frame.columns if c in TARGETS] + extra


def canonical_frame(records: list[dict], properties: Iterable[str] = ()) -> pl.DataFrame:
    """Build the canonical table from dicts; absent columns are null, unknown keys are an error.
    ``properties`` names a data set's own property columns (beyond the canonical targets)."""
    schema = columns(properties)
    unknown = {key for rec in records for key in rec} - set(schema)
    if unknown:
        raise ValueError(f"unknown columns {sorted(unknown)}; known: {sorted(schema)}")
    return pl.DataFrame(records, schema=schema, strict=False)


def empty_frame(properties: Iterable[str] = ()) -> pl.DataFrame:
    return pl.DataFrame(schema=columns(properties))
