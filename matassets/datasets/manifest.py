"""A data set's manifest: what it is (properties with unit and task), where it came from (source,
licence, citation), its input format, its files with their hashes, and its version history.

User data sets keep it at ``data/datasets/<name>/manifest.json``; the built-in ones (the embedded
Materials Project snapshot, the mlearn DFT data, the topological labels) ship theirs in
``matassets/datasets/builtin/<name>.json`` and point at files already in the repository.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from matassets.datasets.properties import Property

MANIFEST = "manifest.json"
# A data set's name prefixes its Dagster asset keys (alloys/raw_structures): letters, digits, _
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
FORMATS = {
    "structure_folder": "a folder of CIF/POSCAR files with a targets CSV (header row naming the properties)",
    "id_prop_folder": "ALIGNN's folder: POSCAR/CIF files and a headerless id_prop.csv (file,value)",
    "table": "one CSV or JSON table: id, structure (CIF/POSCAR text, pymatgen dict, file name), properties",
    "extxyz": "an extended-XYZ file: structures with energies (and forces, stresses) for potentials",
    # built-in data sets only
    "embedded_mp": "the embedded Materials Project snapshot (JSON list of records)",
    "mlearn_json": "the mlearn DFT configurations (JARVIS-format JSON) and official test sets",
    "topo_labels": "space_group,formula lines, one file per topological class (no structures)",
}


def check_dataset_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"{name!r} cannot name a data set: use letters, digits and _ (starting with a letter, "
            "at most 40 characters), e.g. alloys or my_oxides"
        )
    return name


def sha256_file(path: Path) -> str:
    """The file's full SHA-256 (64 hex digits)."""
    from matassets.io import sha256_file as digest

    return digest(path, 64)


@dataclass
class Manifest:
    name: str
    format: str
    properties: list[Property]
    version: int = 1
    description: str = ""
    source: str = ""
    licence: str = ""
    citation: str = ""
    builtin: bool = False
    rows: int | None = None  # rows of the data set's table (None: not a structure table)
    table: str | None = None  # the canonical table, relative to the data set's folder
    table_sha256: str | None = None
    # {"path": relative path, "sha256": ..., "bytes": ..., "version": N}; built-in paths are
    # relative to the repository root, user ones to the data set's folder
    files: list[dict] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)  # source field -> property (built-in sets)
    history: list[dict] = field(default_factory=list)  # one entry per version: what it added

    def __post_init__(self) -> None:
        check_dataset_name(self.name)
        if self.format not in FORMATS:
            raise ValueError(
                f"data set {self.name!r}: unknown format {self.format!r}; known: {', '.join(FORMATS)}"
            )
        names = [p.name for p in self.properties]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"data set {self.name!r}: property {repeated} listed more than once")

    def property(self, name: str) -> Property:
        for p in self.properties:
            if p.name == name:
                return p
        raise KeyError(f"data set {self.name!r} has no property {name!r}; it has {self.property_names()}")

    def property_names(self) -> list[str]:
        return [p.name for p in self.properties]

    def to_json(self) -> dict:
        from matassets.datasets.properties import canonical_properties

        canon = canonical_properties()
        # a built-in manifest names a canonical property (its facts live in properties.json)
        props = [p.name if self.builtin and canon.get(p.name) == p else p.to_json() for p in self.properties]
        out = {
            "name": self.name,
            "version": self.version,
            "format": self.format,
            "description": self.description,
            "properties": props,
            "source": self.source,
            "licence": self.licence,
            "citation": self.citation,
        }
        if self.builtin:
            out["builtin"] = True
        for key in ("rows", "table", "table_sha256"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.fields:
            out["fields"] = self.fields
        out["files"] = self.files
        if self.history:
            out["history"] = self.history
        return out

    @classmethod
    def from_json(cls, data: dict, where: str = "manifest") -> Manifest:
        known = {
            "name",
            "version",
            "format",
            "description",
            "properties",
            "source",
            "licence",
            "citation",
            "builtin",
            "rows",
            "table",
            "table_sha256",
            "files",
            "fields",
            "history",
        }
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}")
        try:
            return cls(
                name=data["name"],
                format=data["format"],
                properties=[Property.from_json(p) for p in data.get("properties", [])],
                version=int(data.get("version", 1)),
                description=data.get("description", ""),
                source=data.get("source", ""),
                licence=data.get("licence", ""),
                citation=data.get("citation", ""),
                builtin=bool(data.get("builtin", False)),
                rows=data.get("rows"),
                table=data.get("table"),
                table_sha256=data.get("table_sha256"),
                files=list(data.get("files", [])),
                fields=dict(data.get("fields", {})),
                history=list(data.get("history", [])),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"{where}: {exc}") from exc

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object")
        return cls.from_json(data, str(path))

    def write(self, path: Path) -> Path:
        from matassets.io import atomic_write

        text = json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"
        return atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
