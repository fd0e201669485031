"""A property a model can learn: its name, unit, task and plausible range.

The canonical properties (formation energy, band gap, moduli, ... ``topo_label``) are written once,
in ``builtin/properties.json``; ``matassets.data.schema.TARGETS`` and every shipped manifest take
them from there. A user's data set may name any other property; its manifest then carries the
unit, the task and (optionally) the plausible range, given on the command line as
``COLUMN[:UNIT[:TASK[:LOW,HIGH]]]``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
TASKS = ("regression", "classification")
# a property becomes a column and a Dagster asset name (cgcnn_<property>): letters, digits, _
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
# columns of the canonical table that are not properties
RESERVED = frozenset(
    {
        "id",
        "structure",
        "structure_format",
        "formula",
        "spacegroup",
        "nsites",
        "source",
        "origin",
        "reference_split",
        "dup_group",
    }
)


@dataclass(frozen=True)
class Property:
    """One learnable property. ``range`` = the widest physically plausible interval (a value outside
    it is quarantined, never silently dropped); None = any finite number."""

    name: str
    unit: str = ""
    task: str = "regression"  # regression | classification
    range: tuple[float, float] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.task not in TASKS:
            raise ValueError(f"property {self.name!r}: task {self.task!r} is not one of {', '.join(TASKS)}")
        if self.range is not None:
            low, high = (float(v) for v in self.range)
            if not (math.isfinite(low) and math.isfinite(high) and low <= high):
                raise ValueError(
                    f"property {self.name!r}: range {self.range} must be two numbers, low <= high"
                )
            object.__setattr__(self, "range", (low, high))

    @property
    def plausible(self) -> tuple[float, float]:
        """The range, open where none is given (what validation compares values with)."""
        return self.range if self.range is not None else (-math.inf, math.inf)

    @property
    def kind(self) -> str:
        """``regression`` or ``binary`` (the trainers' name for a classification property)."""
        return "binary" if self.task == "classification" else "regression"

    def to_json(self) -> dict:
        out: dict = {"name": self.name, "unit": self.unit, "task": self.task}
        if self.range is not None:
            out["range"] = list(self.range)
        if self.description:
            out["description"] = self.description
        return out

    @classmethod
    def from_json(cls, data: dict | str) -> Property:
        """A manifest's entry: a full object, or the bare name of a canonical property."""
        if isinstance(data, str):
            return canonical(data)
        if not isinstance(data, dict) or "name" not in data:
            raise ValueError(f"a property entry needs at least a name, found {data!r}")
        unknown = set(data) - {"name", "unit", "task", "range", "description"}
        if unknown:
            raise ValueError(f"property {data['name']!r}: unknown key(s) {sorted(unknown)}")
        rng = data.get("range")
        return cls(
            name=str(data["name"]),
            unit=str(data.get("unit") or ""),
            task=str(data.get("task") or "regression"),
            range=tuple(rng) if rng is not None else None,
            description=str(data.get("description") or ""),
        )


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"{name!r} cannot name a property: use letters, digits and _ (starting with a letter, "
            "at most 64 characters), e.g. ionic_conductivity"
        )
    if name in RESERVED:
        raise ValueError(f"{name!r} is a column of the canonical table, not a property; rename it")
    return name


@cache
def canonical_properties() -> dict[str, Property]:
    """The canonical properties, in the file's order."""
    data = json.loads((BUILTIN_DIR / "properties.json").read_text(encoding="utf-8"))
    props = [Property.from_json(entry) for entry in data["properties"]]
    return {p.name: p for p in props}


def canonical(name: str) -> Property:
    props = canonical_properties()
    if name not in props:
        raise ValueError(f"{name!r} is not a canonical property; canonical: {', '.join(props)}")
    return props[name]


def parse_spec(spec: str) -> Property:
    """``COLUMN[:UNIT[:TASK[:LOW,HIGH]]]`` -> Property; a canonical name alone keeps its own unit,
    task and range, and a canonical name given a different unit or task is an error (one fact, one
    place). ``-`` or an empty UNIT means dimensionless."""
    parts = spec.split(":")
    if len(parts) > 4:
        raise ValueError(f"--property {spec!r}: expected COLUMN[:UNIT[:TASK[:LOW,HIGH]]]")
    name = parts[0].strip()
    unit = parts[1].strip() if len(parts) > 1 else None
    unit = "" if unit == "-" else unit
    task = parts[2].strip() if len(parts) > 2 and parts[2].strip() else None
    rng = None
    if len(parts) > 3 and parts[3].strip():
        bounds = parts[3].split(",")
        try:
            if len(bounds) != 2:
                raise ValueError
            rng = (_strict_float(bounds[0]), _strict_float(bounds[1]))
        except ValueError as exc:
            raise ValueError(f"--property {spec!r}: the range must be LOW,HIGH (two numbers)") from exc
    if name in canonical_properties():
        prop = canonical(name)
        clash = [
            f"{what} {given!r} (canonical: {own!r})"
            for what, given, own in (("unit", unit, prop.unit), ("task", task, prop.task))
            if given is not None and given != own
        ]
        if clash:
            raise ValueError(
                f"--property {spec!r}: {name} is a canonical property; "
                + ", ".join(clash)
                + f". Give it under another name, or as just {name}"
            )
        if rng is not None:
            return Property(prop.name, prop.unit, prop.task, rng, prop.description)
        return prop
    return Property(name, unit or "", task or "regression", rng)


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_SPECIAL = {
    "nan": math.nan,
    "+nan": math.nan,
    "-nan": math.nan,
    "inf": math.inf,
    "+inf": math.inf,
    "-inf": -math.inf,
    "infinity": math.inf,
    "+infinity": math.inf,
    "-infinity": -math.inf,
}


def _strict_float(text: str) -> float:
    """A decimal number written with ASCII digits only (no ``1_000``, no non-ASCII digits), or
    nan/inf; anything else is ``ValueError``."""
    cell = text.strip()
    if cell.lower() in _SPECIAL:
        return _SPECIAL[cell.lower()]
    if not _NUMBER.match(cell) or not cell.isascii():
        raise ValueError(f"not a number ({text!r})")
    return float(cell)


strict_float = _strict_float
