"""The embedded Materials Project snapshot (6,317 crystals) shipped in ``data/embedded/``.

Provenance, licences and citations: ``data/embedded/LICENSES.md`` and ``docs/data.md``; the data
set's manifest (properties, fields, files with their hashes) is ``matassets/datasets/builtin/embedded.json``.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl

from matassets.data import schema

EMBEDDED_FILE = Path(__file__).resolve().parents[2] / "data" / "embedded" / "mp_matminer_joined.json.gz"
SOURCE_NAME = "mp_matminer"


def _field_map() -> dict[str, str]:
    """Embedded field -> canonical property, from the data set's shipped manifest."""
    from matassets.datasets.manifest import Manifest
    from matassets.datasets.properties import BUILTIN_DIR

    return Manifest.read(BUILTIN_DIR / "embedded.json").fields


FIELD_MAP = _field_map()


def load_embedded(path: Path = EMBEDDED_FILE) -> pl.DataFrame:
    """Read the snapshot into the canonical table (structures kept as pymatgen JSON text)."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        records = json.load(fh)
    rows = []
    for i, rec in enumerate(records):
        row = {
            schema.ID: rec["material_id"],
            schema.STRUCTURE: json.dumps(rec["structure"]),
            schema.STRUCTURE_FORMAT: "pymatgen_json",
            schema.FORMULA: rec.get("formula"),
            schema.SPACEGROUP: rec.get("spacegroup"),
            schema.NSITES: rec.get("nsites"),
            schema.SOURCE: SOURCE_NAME,
            schema.ORIGIN: f"{path.name} record {i}",
            schema.REFERENCE_SPLIT: rec.get("megnet_split"),
        }
        row.update({target: rec.get(field) for field, target in FIELD_MAP.items()})
        rows.append(row)
    return schema.canonical_frame(rows)
