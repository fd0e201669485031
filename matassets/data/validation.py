"""Validate the raw table: parse every structure, quarantine what is wrong, never drop silently.

Rules (each quarantined row names its id, origin, field and reason):

- ``id``: ids are normalised to Unicode NFC (so NFC/NFD spellings of one id are one id); null/empty
  ids, ids with control or invisible characters (newline, ESC, ...) and repeated ids (the first
  occurrence is kept) are quarantined.
- ``structure``: unparsable text, no atoms, disordered sites, an unknown element symbol, NaN/inf
  in the lattice or coordinates, a degenerate lattice (volume < 1e-3 Å^3 per atom), a cell of
  more than ``MAX_VOLUME_PER_ATOM`` Å^3 per atom (isolated atoms in vacuum), a cell thinner than
  ``min_distance`` between lattice planes,
  more than ``max_sites`` atoms, or two atoms closer than ``min_distance`` Å (periodic images
  included) quarantine the whole row.
- targets: NaN/inf or a value outside the property's physically plausible range (the canonical
  ones from ``datasets/builtin/properties.json``, a data set's own from its manifest), or a
  non-integer value of a classification property, quarantines that value only: it becomes null and
  the row stays for the other targets. This is a physical-validity rule applied to every row before
  splitting, not a statistical outlier filter, so the test set is never filtered by its targets.

Each structure is parsed once (``check_structure``, in worker processes) and its pymatgen JSON is
carried on in the clean table. A level's cap (``max_clean``) applies after validation.

Identical structures get the same ``dup_group`` (``data.duplicates``) so that splits keep them on
one side.
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from matassets.data import schema
from matassets.data.duplicates import duplicate_groups
from matassets.data.parsing import parse_structure, structure_to_text
from matassets.data.spacegroups import declared_spacegroup, spacegroup_number
from matassets.data.workers import pool_for
from matassets.datasets.properties import Property

QUARANTINE_COLUMNS = {
    "id": pl.String(),
    "origin": pl.String(),
    "field": pl.String(),
    "value": pl.String(),
    "reason": pl.String(),
}


@dataclass
class ValidationResult:
    clean: pl.DataFrame | pl.LazyFrame  # lazy: over the stored table (data.pipeline)
    quarantine: pl.DataFrame
    counts: dict = field(default_factory=dict)  # raw rows, validated, clean, left out by the cap

    @property
    def clean_rows(self) -> int:
        return self.counts["clean"]

    def quarantine_counts(self) -> dict[str, int]:
        counts = self.quarantine.group_by("field").len().sort("field")
        return dict(zip(counts["field"], counts["len"], strict=True))


# Å^3 per atom. The loosest real crystals (noble-gas solids) have ~40; far beyond that a "crystal"
# is isolated atoms in vacuum, and the periodic neighbour search would allocate a grid over the
# whole cell (a 1000 Å cube asks for ~27 GB at 0.5 Å), so such cells are refused before it runs.
MAX_VOLUME_PER_ATOM = 1000.0


def _unknown_species(structure) -> list[str]:
    """Species that are not real elements with features (pymatgen reads ``Xx`` as a dummy)."""
    from pymatgen.core.periodic_table import DummySpecies

    from matassets.graphs.features import MAX_Z

    return sorted(
        {sp.symbol for sp in structure.species if isinstance(sp, DummySpecies) or not 1 <= sp.Z <= MAX_Z}
    )


def structure_problem(structure, min_distance: float, max_sites: int) -> str | None:
    """Why ``structure`` cannot be used, or None. Cheap checks run first, so the neighbour search
    never sees a NaN/inf, singular or huge cell (those crash or exhaust memory inside pymatgen)."""
    if len(structure) > max_sites:
        return f"{len(structure)} sites exceeds the limit of {max_sites}"
    if not structure.is_ordered:
        return "disordered (partially occupied) sites; give an ordered structure"
    unknown = _unknown_species(structure)
    if unknown:
        return f"unknown element symbol(s) {unknown}"
    if not (np.isfinite(structure.lattice.matrix).all() and np.isfinite(structure.frac_coords).all()):
        return "lattice or coordinates are not finite numbers (NaN or inf)"
    volume = abs(structure.lattice.volume)
    if volume < 1e-3 * len(structure):
        return f"degenerate lattice (volume {structure.lattice.volume:.3g} A^3)"
    if volume > MAX_VOLUME_PER_ATOM * len(structure):
        return (
            f"cell too large for its atoms ({volume / len(structure):.3g} A^3 per atom, "
            f"limit {MAX_VOLUME_PER_ATOM:g}): isolated atoms, not a crystal"
        )
    m = structure.lattice.matrix
    height = float((volume / np.linalg.norm(np.cross(m[[1, 2, 0]], m[[2, 0, 1]]), axis=1)).min())
    if height < min_distance:  # a neighbour search would loop over ~(cutoff / height)^3 images
        return f"cell too flat (height {height:.3g} A between lattice planes); give a reduced cell"
    # distances do not depend on the cell's basis; the LLL-reduced one keeps the search grid small
    # for a skewed cell (pymatgen sizes it by the atoms' bounding box)
    lattice = structure.lattice
    reduced = (
        structure  # already LLL-reduced (most crystals' cells): skip building a copy
        if np.allclose(lattice.lll_matrix, lattice.matrix)
        else structure.get_reduced_structure(reduction_algo="LLL")
    )
    centers, _, _, distances = reduced.get_neighbor_list(r=min_distance)
    if len(distances):
        k = int(np.argmin(distances))
        return f"atoms closer than {min_distance} A: site {int(centers[k])} at {float(distances[k]):.3f} A"
    return None


def id_problem(rid: object) -> str | None:
    """Why ``rid`` (already NFC-normalised) cannot be an id, or None."""
    if rid is None or not str(rid).strip():
        return "missing id"
    bad = sorted({f"U+{ord(c):04X}" for c in str(rid) if unicodedata.category(c)[0] == "C"})
    if bad:
        return f"id contains control or invisible character(s) {', '.join(bad)}"
    return None


def check_structure(
    text: str | None, fmt: str, min_distance: float, max_sites: int, need_spacegroup: bool
) -> tuple:
    """Parse one structure (the only parse it gets) and check it. Returns ``("bad", value, reason)``
    or ``("ok", json_text_or_None, formula, nsites, spacegroup)``; ``json_text`` is None when the
    input already was pymatgen JSON (the text is kept as it is). ``spacegroup``: the one a CIF
    states, else spglib's when ``need_spacegroup``, else None."""
    try:
        structure = parse_structure(text, fmt, max_sites=max_sites)
    except ValueError as exc:
        return ("bad", (text or "")[:40], str(exc))
    problem = structure_problem(structure, min_distance, max_sites)
    if problem:
        return ("bad", structure.composition.reduced_formula, problem)
    return (
        "ok",
        None if fmt == "pymatgen_json" else structure_to_text(structure),
        structure.composition.reduced_formula,
        len(structure),
        declared_spacegroup(text, fmt) or (spacegroup_number(structure) if need_spacegroup else None),
    )


def _check_chunk(items: list[tuple], min_distance: float, max_sites: int) -> list[tuple]:
    return [(i, check_structure(t, f, min_distance, max_sites, sg)) for i, t, f, sg in items]


class _Raw:
    """The raw table as validation reads it: a frame in memory, or a parquet file read a batch of
    rows at a time (a table of 100k structures is never held whole)."""

    def __init__(self, raw: pl.DataFrame | Path) -> None:
        self.path = None if isinstance(raw, pl.DataFrame) else Path(raw)
        self.frame = raw if isinstance(raw, pl.DataFrame) else None
        self.empty = pl.DataFrame(
            schema=raw.schema if self.frame is not None else pl.read_parquet_schema(raw)
        )

    def column(self, name: str) -> pl.Series:
        return (
            self.frame[name] if self.frame is not None else pl.read_parquet(self.path, columns=[name])[name]
        )

    def take(self, rows: list[int]) -> pl.DataFrame:
        """The rows at these positions, in this order."""
        if self.frame is not None:
            return self.frame[rows]
        low, high = min(rows), max(rows)
        if high - low < 2 * len(rows):  # (nearly) one run of rows: read that span only
            return pl.scan_parquet(self.path).slice(low, high - low + 1).collect()[[r - low for r in rows]]
        found = pl.scan_parquet(self.path).with_row_index("_row").filter(pl.col("_row").is_in(rows)).collect()
        position = {r: k for k, r in enumerate(found["_row"])}
        return found[[position[r] for r in rows]].drop("_row")


def validate(
    raw: pl.DataFrame | Path,
    min_distance: float,
    max_sites: int,
    properties: Mapping[str, Property] | None = None,
    *,
    max_clean: int | None = None,
    seed: int = 0,
    workers: int | None = None,
    spacegroups: bool = False,
    chunk: int = 256,
    batch_rows: int = 8192,
    folder: Path | None = None,
) -> ValidationResult:
    """Split ``raw`` (canonical table, or the path of its parquet file) into a clean table and a
    quarantine table.

    ``properties``: the data set's own properties (unit, task, range) beside the canonical ones;
    a property column without an entry is checked for finite values only.
    ``max_clean`` (the level's cap) is applied AFTER validation: rows are validated in a seeded
    random order until that many are clean; the clean table is then sorted by id, and
    ``result.counts`` says how many rows the cap left unread. Structures are parsed once, in
    ``workers`` processes (default ``workers_default()``). A row keeps the space group its source
    gives (a CIF's own number included); the missing ones are computed only when ``spacegroups``
    (most of a worker's time: ``data.spacegroups``), else left null for the consumers that need them.

    Rows are read ``batch_rows`` at a time and each batch's clean rows are written to a parquet file
    under ``folder``; ``result.clean`` is then a LazyFrame over those files (the caller writes it
    where it belongs while ``folder`` exists). Without ``folder`` a temporary one is used and
    ``result.clean`` is a DataFrame.
    """
    if folder is None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="matassets-validate-") as tmp:
            result = validate(
                raw, min_distance, max_sites, properties, max_clean=max_clean, seed=seed,
                workers=workers, spacegroups=spacegroups, chunk=chunk, batch_rows=batch_rows,
                folder=Path(tmp),
            )  # fmt: skip
            result.clean = result.clean.collect()
            return result
    source = _Raw(raw)
    props = {**schema.TARGETS, **(properties or {})}
    bad: list[dict] = []
    seen: dict[str, str] = {}
    targets = schema.property_columns(source.empty)
    # ids normalised once; row dicts are made one batch at a time (never the whole table at once)
    ids = [
        unicodedata.normalize("NFC", r.strip()) if isinstance(r, str) else r for r in source.column(schema.ID)
    ]
    origins = source.column(schema.ORIGIN).to_list()

    def quarantine(row: dict, field: str, value: object, reason: str) -> None:
        bad.append(
            {
                "id": row[schema.ID],
                "origin": row[schema.ORIGIN],
                "field": field,
                "value": str(value)[:80],
                "reason": reason,
            }
        )

    candidates: list[int] = []
    for i, (rid, origin) in enumerate(zip(ids, origins, strict=True)):
        problem = id_problem(rid)
        if problem:
            quarantine({schema.ID: rid, schema.ORIGIN: origin}, "id", rid, problem)
        elif rid in seen:
            quarantine(
                {schema.ID: rid, schema.ORIGIN: origin},
                "id",
                rid,
                f"duplicate id (first seen at {seen[rid]})",
            )
        else:
            seen[rid] = origin
            candidates.append(i)
    del seen, origins
    capped = max_clean is not None and len(candidates) > max_clean
    if capped:
        order = np.random.default_rng(seed).permutation(len(candidates))
        candidates = [candidates[k] for k in order]
    pool = pool_for(len(candidates), workers)
    # each batch's clean rows go to their own parquet file; what duplicate grouping needs of every
    # clean row (id, formula, a digest of its text) is kept here, a few dozen bytes per row
    files: list[Path] = []
    keys: dict[str, list] = {schema.ID: [], schema.FORMULA: [], "digest": []}
    kept = done = 0
    try:
        while done < len(candidates) and not (capped and kept >= max_clean):
            need = max_clean - kept if capped else batch_rows
            batch = candidates[done : done + (max(need + need // 10 + 16, 1) if capped else need)]
            done += len(batch)
            rows = source.take(batch).to_dicts()
            for row, i in zip(rows, batch, strict=True):
                row[schema.ID] = ids[i]
            items = [
                (
                    k,
                    row[schema.STRUCTURE],
                    row[schema.STRUCTURE_FORMAT],
                    spacegroups and row[schema.SPACEGROUP] is None,
                )
                for k, row in enumerate(rows)
            ]
            chunks = [items[k : k + chunk] for k in range(0, len(items), chunk)]
            keep: list[dict] = []
            for results in pool.map(_check_chunk, chunks, min_distance, max_sites):
                for k, res in results:
                    row = rows[k]
                    if res[0] == "bad":
                        quarantine(row, "structure", res[1], res[2])
                        continue
                    if capped and kept >= max_clean:
                        continue  # validated, clean, beyond the cap
                    _, text, formula, nsites, sg = res
                    if text is not None:
                        row[schema.STRUCTURE], row[schema.STRUCTURE_FORMAT] = text, "pymatgen_json"
                    row[schema.FORMULA], row[schema.NSITES] = formula, nsites
                    if row[schema.SPACEGROUP] is None:
                        row[schema.SPACEGROUP] = sg
                    for name in targets:
                        problem = _value_problem(row[name], props.get(name))
                        if problem:
                            quarantine(row, name, row[name], problem)
                            row[name] = None
                    keep.append(row)
                    keys[schema.ID].append(row[schema.ID])
                    keys[schema.FORMULA].append(formula)
                    keys["digest"].append(
                        hashlib.blake2b(row[schema.STRUCTURE].encode(), digest_size=16).digest()
                    )
                    kept += 1
            if keep:
                files.append(folder / f"clean-{len(files):06d}.parquet")
                pl.DataFrame(keep, schema=source.empty.schema).write_parquet(files[-1])
            del rows, items, chunks, keep
        scanned = pl.scan_parquet(files) if files else source.empty.lazy()
        order = pl.DataFrame(keys)  # the first of a group is the first in the table's final order
        groups = duplicate_groups(order.sort(schema.ID) if capped else order, scanned, pool)
    finally:
        pool.close()
    clean = scanned.join(groups.lazy(), on=schema.ID, how="left", maintain_order="left")
    if capped:
        clean = clean.sort(schema.ID)
    structure_bad = sum(1 for b in bad if b["field"] == "structure")
    counts = {
        "raw rows": len(ids),
        "id problems": len(ids) - len(candidates),
        "structures parsed": done,
        "structure problems": structure_bad,
        "clean": kept,
    }
    if capped:
        counts["cap"] = max_clean
        counts["clean beyond the cap"] = done - structure_bad - kept
        counts["not read (cap reached)"] = len(candidates) - done
    return ValidationResult(clean, pl.DataFrame(bad, schema=QUARANTINE_COLUMNS), counts)


def _value_problem(value: float | None, prop: Property | None) -> str | None:
    if value is None:
        return None
    if not math.isfinite(value):
        return "not a finite number"
    if prop is None:
        return None
    low, high = prop.plausible
    if not low <= value <= high:
        return f"outside the plausible range [{low:g}, {high:g}]" + (f" {prop.unit}" if prop.unit else "")
    if prop.task == "classification" and not float(value).is_integer():
        return "not a class label (a classification property takes whole numbers)"
    return None
