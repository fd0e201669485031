"""Read the topological-materials database: a small Python API (the CLI's ``topo query`` uses it).

    from matassets.topo.query import TopoDB
    with TopoDB.open_partition("std") as db:
        db.lookup("Bi2Se3")          # labels from every source, the crystals, the curated check
        db.composition_labels()      # (formula, space group, class, flag) rows for a classifier

Formulas are matched as pymatgen reduced formulas (``Se3Bi2`` finds ``Bi2Se3``). Text that is not a
formula is matched literally (as a bound parameter, never spliced into SQL) and finds nothing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from matassets.topo.db import connect, topo_db_path
from matassets.topo.labels import SOURCE_NAME, normalise_formula


def formula_key(text: str) -> str:
    """The reduced formula of ``text``, or ``text`` itself when it is not a formula."""
    try:
        return normalise_formula(text)
    except ValueError:
        return str(text)


class TopoDB:
    """A read-only view of one ``topo.db``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.conn: sqlite3.Connection = connect(self.path, readonly=True)

    @classmethod
    def open_partition(cls, partition: str, root: Path | None = None) -> TopoDB:
        from matassets.paths import Layout, default_root

        return cls(topo_db_path(Layout(Path(root) if root else default_root()), partition))

    def __enter__(self) -> TopoDB:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def _rows(self, sql: str, params: tuple = ()) -> list[dict]:
        return [dict(r) for r in self.conn.execute(sql, params)]

    def labels(self, formula: str, spacegroup: int | None = None) -> list[dict]:
        """Every label of a formula (optionally one space group), from every source."""
        return self._rows(
            "SELECT l.formula, l.spacegroup, l.class, l.topological, s.name AS source, "
            "l.material_id, l.reference, l.note FROM labels l JOIN sources s ON s.id = l.source_id "
            "WHERE l.formula = ? AND (? IS NULL OR l.spacegroup = ?) "
            "ORDER BY l.spacegroup, s.id, l.material_id",
            (formula_key(formula), spacegroup, spacegroup),
        )

    def materials(self, formula: str, spacegroup: int | None = None) -> list[dict]:
        """The partition's crystals of a formula, each with its Arsenal label (None if unlabelled)."""
        return self._rows(
            "SELECT m.id, m.formula, m.spacegroup, m.nsites, l.class, l.topological "
            "FROM materials m LEFT JOIN labels l ON l.formula = m.formula "
            "AND l.spacegroup = m.spacegroup AND l.material_id IS NULL "
            "AND l.source_id = (SELECT id FROM sources WHERE name = ?) "
            "WHERE m.formula = ? AND (? IS NULL OR m.spacegroup = ?) ORDER BY m.spacegroup, m.id",
            (SOURCE_NAME, formula_key(formula), spacegroup, spacegroup),
        )

    def structure(self, material_id: str):
        """A crystal's pymatgen ``Structure``."""
        import json

        from pymatgen.core import Structure

        row = self.conn.execute("SELECT structure FROM materials WHERE id = ?", (material_id,)).fetchone()
        if row is None:
            raise KeyError(f"no material {material_id!r} in {self.path}")
        return Structure.from_dict(json.loads(row[0]))

    def curated(self, formula: str | None = None) -> list[dict]:
        """The curated spot checks beside the Arsenal's label (``binary_agrees`` 1/0/None)."""
        return self._rows(
            "SELECT * FROM curated_check WHERE (? IS NULL OR formula = ?) ORDER BY rowid",
            (formula and formula_key(formula), formula and formula_key(formula)),
        )

    def lookup(self, formula: str, spacegroup: int | None = None) -> dict:
        """Everything the database knows about a formula."""
        return {
            "query": formula,
            "formula": formula_key(formula),
            "labels": self.labels(formula, spacegroup),
            "materials": self.materials(formula, spacegroup),
            "curated": self.curated(formula),
        }

    def composition_labels(self, source: str = SOURCE_NAME) -> list[dict]:
        """(formula, spacegroup, class, topological) of one key-level source, sorted."""
        return self._rows(
            "SELECT l.formula, l.spacegroup, l.class, l.topological FROM labels l "
            "JOIN sources s ON s.id = l.source_id WHERE s.name = ? AND l.material_id IS NULL "
            "ORDER BY l.formula, l.spacegroup",
            (source,),
        )

    def counts(self) -> dict[str, int]:
        out = {
            t: self.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
            for t in ("sources", "materials", "labels", "conflicts")
        }
        for row in self.conn.execute(
            "SELECT s.name, count(l.id) FROM sources s LEFT JOIN labels l ON l.source_id = s.id "
            "GROUP BY s.id ORDER BY s.id"
        ):
            out[f"labels from {row[0]}"] = row[1]
        return out

    def info(self) -> dict[str, str]:
        return {r["key"]: r["value"] for r in self.conn.execute("SELECT key, value FROM build_info")}
