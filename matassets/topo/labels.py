"""Topological labels of the Topological Materials Arsenal, as shipped by Topogivity.

Four files of ``space_group, formula`` lines (``data/topogivity/``), one per class:
``case1_ccmp.txt`` trivial, ``ti_ccmp.txt`` topological insulator, ``tci_ccmp.txt`` topological
crystalline insulator, ``case3_ccmp.txt`` topological semimetal. The classes come from symmetry
indicators / topological quantum chemistry (Tang, Po, Vishwanath & Wan, Nature 566, 486 (2019));
the file split is Topogivity's (Ma et al., Nano Lett. 2023, github.com/andrewma8/topogivity @ b581c21).

There are no structures: a label belongs to a (reduced formula, space group) key, and a crystal gets it
when both match. A key listed under two classes is dropped and counted (``Conflict``), as Topogivity
does; a line whose formula pymatgen cannot read is kept aside with the reason, never dropped silently.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from matassets.paths import PROJECT_ROOT

LABEL_DIR = PROJECT_ROOT / "data" / "topogivity"
SOURCE_NAME = "topological_materials_arsenal"
SOURCE_REFERENCE = (
    "Tang, Po, Vishwanath & Wan, Nature 566, 486 (2019); label files from Topogivity, "
    "Ma et al., Nano Lett. 23, 772 (2023), github.com/andrewma8/topogivity @ b581c21"
)
CLASS_FILES: dict[str, str] = {
    "case1_ccmp.txt": "trivial",
    "ti_ccmp.txt": "TI",
    "tci_ccmp.txt": "TCI",
    "case3_ccmp.txt": "semimetal",
}
CLASSES: tuple[str, ...] = ("trivial", "TI", "TCI", "semimetal")


def is_topological(cls: str) -> int:
    """The binary flag of a class: 0 for trivial, 1 for TI, TCI and semimetal."""
    if cls not in CLASSES:
        raise ValueError(f"unknown topological class {cls!r}; known: {', '.join(CLASSES)}")
    return int(cls != "trivial")


def normalise_formula(text: str) -> str:
    """The reduced formula pymatgen writes (``Se3Bi2`` → ``Bi2Se3``); ``ValueError`` if not a formula."""
    from pymatgen.core import Composition

    text = str(text).strip()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            comp = Composition(text)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{text!r} is not a chemical formula") from exc
        if not comp.valid or comp.num_atoms <= 0:
            raise ValueError(f"{text!r} is not a chemical formula (unknown element)")
        return comp.reduced_formula


@dataclass(frozen=True, order=True)
class Label:
    formula: str
    spacegroup: int
    cls: str

    @property
    def topological(self) -> int:
        return is_topological(self.cls)


@dataclass(frozen=True)
class Conflict:
    formula: str
    spacegroup: int
    classes: tuple[str, ...]

    @property
    def kind(self) -> str:
        """``binary`` when the classes disagree on topological vs trivial, else ``class``."""
        return "binary" if len({is_topological(c) for c in self.classes}) > 1 else "class"


@dataclass
class ArsenalLabels:
    labels: list[Label]
    conflicts: list[Conflict]
    lines: dict[str, int]  # file -> non-empty lines read
    duplicates: int  # repeated keys with the same class, merged
    unparsable: list[dict] = field(default_factory=list)  # file, line, text, reason

    def counts(self) -> dict[str, int]:
        out = {c: sum(1 for lab in self.labels if lab.cls == c) for c in CLASSES}
        out["labels"] = len(self.labels)
        out["lines"] = sum(self.lines.values())
        out["duplicates merged"] = self.duplicates
        out["conflicts dropped"] = len(self.conflicts)
        out["binary conflicts"] = sum(1 for c in self.conflicts if c.kind == "binary")
        out["class-only conflicts"] = sum(1 for c in self.conflicts if c.kind == "class")
        out["unparsable lines"] = len(self.unparsable)
        return out


def read_arsenal(folder: Path = LABEL_DIR) -> ArsenalLabels:
    """Read the four class files; merge repeats, drop and count conflicting keys."""
    folder = Path(folder)
    seen: dict[tuple[str, int], set[str]] = defaultdict(set)
    repeats = 0
    lines: dict[str, int] = {}
    unparsable: list[dict] = []
    for name, cls in CLASS_FILES.items():
        path = folder / name
        if not path.exists():
            raise FileNotFoundError(f"topological label file {path} is missing (see docs/data.md)")
        lines[name] = 0
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not raw.strip():
                continue
            lines[name] += 1
            try:
                sg_text, formula_text = raw.split(",", 1)
                sg = int(sg_text)
                if not 1 <= sg <= 230:
                    raise ValueError(f"space group {sg} outside 1..230")
                key = (normalise_formula(formula_text), sg)
            except ValueError as exc:
                unparsable.append({"file": name, "line": number, "text": raw, "reason": str(exc)})
                continue
            if cls in seen[key]:
                repeats += 1
            seen[key].add(cls)
    labels = sorted(Label(f, sg, next(iter(c))) for (f, sg), c in seen.items() if len(c) == 1)
    conflicts = sorted(
        (Conflict(f, sg, tuple(sorted(c, key=CLASSES.index))) for (f, sg), c in seen.items() if len(c) > 1),
        key=lambda c: (c.formula, c.spacegroup),
    )
    return ArsenalLabels(labels, conflicts, lines, repeats, unparsable)


def join_crystals(crystals: list[dict], labels: list[Label]) -> tuple[dict[str, Label], dict[str, int]]:
    """Label each crystal (dicts with ``id``, ``formula``, ``spacegroup``) on (reduced formula, SG).

    Returns ``{crystal id: label}`` and counts; crystals without a space group or with an
    unreadable formula are counted, not labelled.
    """
    index = {(lab.formula, lab.spacegroup): lab for lab in labels}
    joined: dict[str, Label] = {}
    counts = {"crystals": len(crystals), "labelled": 0, "no space group": 0, "bad formula": 0}
    for row in crystals:
        if row.get("spacegroup") is None:
            counts["no space group"] += 1
            continue
        try:
            formula = normalise_formula(row["formula"])
        except ValueError:
            counts["bad formula"] += 1
            continue
        label = index.get((formula, int(row["spacegroup"])))
        if label is not None:
            joined[row["id"]] = label
    counts["labelled"] = len(joined)
    return joined, counts
