"""The SQLite schema of the topological-materials database and its (idempotent) build.

One file per partition, ``data/topo/<partition>/topo.db``:

- ``sources``: where labels come from (the Topological Materials Arsenal, the curated literature
  list, the JARVIS spin-orbit spillage when that source is used), with reference and licence.
- ``materials``: the partition's clean crystals (id, reduced formula, space group, nsites, structure
  as pymatgen JSON).
- ``labels``: one row per (source, reduced formula, space group), or per (source, material) for
  material-specific labels (spillage): class trivial / TI / TCI / semimetal (NULL where a source has
  no class, as for spillage), binary ``topological`` flag, reference. CHECK constraints keep the class
  and the flag consistent.
- ``conflicts``: keys a source listed under two classes, dropped from ``labels``.
- views ``material_labels`` (crystals joined to labels on (formula, space group)) and
  ``curated_check`` (each curated material beside the Arsenal's label: does it agree?).

A build writes a new file beside the old one and renames it over it (readers keep a consistent file),
inserts rows in sorted order, and records a content hash: two builds from the same inputs give the same
hash. Every statement with a value in it is parameterised.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from matassets.io import atomic_write, sha256_text
from matassets.paths import Layout

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE sources (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (length(name) > 0),
    kind TEXT NOT NULL CHECK (kind IN ('symmetry_indicator', 'literature', 'spillage')),
    description TEXT NOT NULL,
    reference TEXT NOT NULL CHECK (length(reference) > 0),
    licence TEXT NOT NULL
) STRICT;

CREATE TABLE materials (
    id TEXT PRIMARY KEY CHECK (length(id) > 0),
    formula TEXT NOT NULL CHECK (length(formula) > 0),
    spacegroup INTEGER CHECK (spacegroup BETWEEN 1 AND 230),
    nsites INTEGER NOT NULL CHECK (nsites > 0),
    structure TEXT NOT NULL CHECK (json_valid(structure)),
    data_source TEXT NOT NULL
) STRICT;

CREATE TABLE labels (
    id INTEGER PRIMARY KEY,
    formula TEXT NOT NULL CHECK (length(formula) > 0),
    spacegroup INTEGER NOT NULL CHECK (spacegroup BETWEEN 1 AND 230),
    material_id TEXT REFERENCES materials (id),
    class TEXT CHECK (class IN ('trivial', 'TI', 'TCI', 'semimetal')),
    topological INTEGER NOT NULL CHECK (topological IN (0, 1)),
    source_id INTEGER NOT NULL REFERENCES sources (id),
    reference TEXT NOT NULL CHECK (length(reference) > 0),
    note TEXT,
    CHECK (class IS NULL OR (class = 'trivial') = (topological = 0))
) STRICT;

CREATE UNIQUE INDEX labels_by_key ON labels (source_id, formula, spacegroup)
    WHERE material_id IS NULL;
CREATE UNIQUE INDEX labels_by_material ON labels (source_id, material_id)
    WHERE material_id IS NOT NULL;
CREATE INDEX labels_by_formula ON labels (formula, spacegroup);
CREATE INDEX materials_by_formula ON materials (formula, spacegroup);

CREATE TABLE conflicts (
    source_id INTEGER NOT NULL REFERENCES sources (id),
    formula TEXT NOT NULL,
    spacegroup INTEGER NOT NULL CHECK (spacegroup BETWEEN 1 AND 230),
    classes TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('binary', 'class')),
    PRIMARY KEY (source_id, formula, spacegroup)
) STRICT;

CREATE TABLE build_info (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;

CREATE VIEW material_labels AS
SELECT m.id AS material_id, m.formula, m.spacegroup, m.nsites, l.class, l.topological,
       s.name AS source, l.reference
FROM materials m
JOIN labels l ON l.formula = m.formula AND l.spacegroup = m.spacegroup
    AND (l.material_id IS NULL OR l.material_id = m.id)
JOIN sources s ON s.id = l.source_id;

CREATE VIEW curated_check AS
SELECT c.formula, c.spacegroup, c.class AS curated_class, c.topological AS curated_topological,
       c.reference, c.note, a.class AS database_class, a.topological AS database_topological,
       CASE WHEN a.id IS NULL THEN NULL WHEN a.topological = c.topological THEN 1 ELSE 0 END
           AS binary_agrees,
       CASE WHEN a.id IS NULL THEN NULL WHEN a.class = c.class THEN 1 ELSE 0 END AS class_agrees,
       (SELECT count(*) FROM materials m
        WHERE m.formula = c.formula AND m.spacegroup = c.spacegroup) AS n_crystals
FROM labels c
JOIN sources cs ON cs.id = c.source_id AND cs.kind = 'literature'
LEFT JOIN labels a ON a.formula = c.formula AND a.spacegroup = c.spacegroup
    AND a.material_id IS NULL
    AND a.source_id = (SELECT id FROM sources WHERE kind = 'symmetry_indicator');
"""

# tables whose content defines the database (build_info holds the hash of these)
CONTENT_TABLES = ("sources", "materials", "labels", "conflicts")

SPILLAGE_THRESHOLD = 0.5
SPILLAGE_REFERENCE = "Choudhary, Garrity & Tavazza, Sci. Rep. 9, 8534 (2019)"


def topo_db_path(layout: Layout, partition: str) -> Path:
    return layout.topo_db(partition)


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """A connection with foreign keys enforced; ``readonly`` opens the file read-only."""
    path = Path(path)
    if readonly:
        if not path.exists():
            raise FileNotFoundError(
                f"no topological database at {path}; build it with "
                "`matassets topo init --level <level>` (materializes the topo_db asset)"
            )
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    else:
        conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def create_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)
    conn.execute("INSERT INTO build_info (key, value) VALUES (?, ?)", ("schema_version", str(SCHEMA_VERSION)))


def content_hash(conn: sqlite3.Connection) -> str:
    """A hash of every row of the content tables, in primary-key order."""
    parts = []
    for table in CONTENT_TABLES:
        rows = conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall()  # noqa: S608
        parts.append(json.dumps([table, [tuple(r) for r in rows]], default=str))
    return sha256_text("\n".join(parts))


@dataclass
class BuildReport:
    path: Path
    content_hash: str
    counts: dict[str, int]  # rows per table and label source
    arsenal: dict[str, int]  # label file counts (lines, per class, conflicts …)
    join: dict[str, int]  # crystals joined to labels
    canonical_check: dict[str, int]  # DB label vs the canonical table's topo_label column
    curated: list[dict] = field(default_factory=list)
    unparsable: list[dict] = field(default_factory=list)


def _insert_source(conn, name: str, kind: str, description: str, reference: str, licence: str):
    cur = conn.execute(
        "INSERT INTO sources (name, kind, description, reference, licence) VALUES (?, ?, ?, ?, ?)",
        (name, kind, description, reference, licence),
    )
    return cur.lastrowid


def _fill(conn: sqlite3.Connection, crystals: list[dict], label_dir: Path) -> BuildReport:
    from matassets.topo import curated, labels

    arsenal = labels.read_arsenal(label_dir)
    arsenal_id = _insert_source(
        conn,
        labels.SOURCE_NAME,
        "symmetry_indicator",
        "Topological Materials Arsenal classes from symmetry indicators (trivial = case 1; "
        "TI, TCI; semimetal = case 3), keyed on (reduced formula, space group)",
        labels.SOURCE_REFERENCE,
        "MIT (Topogivity)",
    )
    literature_id = _insert_source(
        conn,
        curated.SOURCE_NAME,
        "literature",
        "well-known materials with literature labels, kept as spot checks",
        curated.SOURCE_REFERENCE,
        "facts from the cited papers",
    )
    conn.executemany(
        "INSERT INTO materials (id, formula, spacegroup, nsites, structure, data_source) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            (r["id"], r["formula"], r["spacegroup"], r["nsites"], r["structure"], r["source"])
            for r in sorted(crystals, key=lambda r: r["id"])
        ],
    )
    conn.executemany(
        "INSERT INTO labels (formula, spacegroup, class, topological, source_id, reference) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            (lab.formula, lab.spacegroup, lab.cls, lab.topological, arsenal_id, labels.SOURCE_REFERENCE)
            for lab in arsenal.labels
        ],
    )
    conn.executemany(
        "INSERT INTO conflicts (source_id, formula, spacegroup, classes, kind) VALUES (?, ?, ?, ?, ?)",
        [(arsenal_id, c.formula, c.spacegroup, ",".join(c.classes), c.kind) for c in arsenal.conflicts],
    )
    conn.executemany(
        "INSERT INTO labels (formula, spacegroup, class, topological, source_id, reference, note) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                labels.normalise_formula(c.formula),
                c.spacegroup,
                c.cls,
                labels.is_topological(c.cls),
                literature_id,
                c.reference,
                c.note,
            )
            for c in curated.CURATED
        ],
    )
    spillage = [r for r in crystals if r.get("spillage") is not None and r["spacegroup"]]
    if spillage:
        spillage_id = _insert_source(
            conn,
            "jarvis_spillage",
            "spillage",
            f"JARVIS-DFT spin-orbit spillage >= {SPILLAGE_THRESHOLD} as topological (per crystal, no class)",
            SPILLAGE_REFERENCE,
            "NIST (JARVIS-DFT)",
        )
        conn.executemany(
            "INSERT INTO labels (formula, spacegroup, material_id, class, topological, source_id, "
            "reference, note) VALUES (?, ?, ?, NULL, ?, ?, ?, ?)",
            [
                (
                    r["formula"],
                    r["spacegroup"],
                    r["id"],
                    int(r["spillage"] >= SPILLAGE_THRESHOLD),
                    spillage_id,
                    SPILLAGE_REFERENCE,
                    f"spillage {r['spillage']:.3f}",
                )
                for r in sorted(spillage, key=lambda r: r["id"])
            ],
        )
    joined, join_counts = labels.join_crystals(crystals, arsenal.labels)
    check = {"agree": 0, "disagree": 0, "only in database": 0, "only in canonical table": 0}
    for r in crystals:
        mine, theirs = joined.get(r["id"]), r.get("topo_label")
        if mine is not None and theirs is not None:
            check["agree" if mine.topological == int(theirs) else "disagree"] += 1
        elif mine is not None:
            check["only in database"] += 1
        elif theirs is not None:
            check["only in canonical table"] += 1
    counts = {
        table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
        for table in CONTENT_TABLES
    }
    for row in conn.execute(
        "SELECT s.name, count(l.id) FROM sources s LEFT JOIN labels l ON l.source_id = s.id "
        "GROUP BY s.id ORDER BY s.id"
    ):
        counts[f"labels from {row[0]}"] = row[1]
    counts["labelled crystals"] = conn.execute(
        "SELECT count(DISTINCT material_id) FROM material_labels WHERE source = ?",
        (labels.SOURCE_NAME,),
    ).fetchone()[0]
    curated_rows = [dict(r) for r in conn.execute("SELECT * FROM curated_check ORDER BY rowid")]
    digest = content_hash(conn)
    conn.executemany(
        "INSERT INTO build_info (key, value) VALUES (?, ?)",
        [
            ("content_hash", digest),
            ("label_counts", json.dumps(arsenal.counts(), sort_keys=True)),
            ("join_counts", json.dumps(join_counts, sort_keys=True)),
        ],
    )
    return BuildReport(
        path=Path(),
        content_hash=digest,
        counts=counts,
        arsenal=arsenal.counts(),
        join=join_counts,
        canonical_check=check,
        curated=curated_rows,
        unparsable=arsenal.unparsable,
    )


def build_database(path: Path, crystals: list[dict], label_dir: Path | None = None) -> BuildReport:
    """(Re)build the database at ``path`` from crystals (canonical rows) and the label files.

    ``crystals``: dicts with ``id, formula, spacegroup, nsites, structure, source`` and optionally
    ``topo_label`` (cross-checked) and ``spillage`` (a label source of its own).
    """
    from matassets.topo.labels import LABEL_DIR

    label_dir = Path(label_dir or LABEL_DIR)
    report: list[BuildReport] = []

    def write(tmp: Path) -> None:
        conn = connect(tmp)
        try:
            with conn:
                create_schema(conn)
                report.append(_fill(conn, crystals, label_dir))
            conn.execute("VACUUM")
        finally:
            conn.close()

    atomic_write(Path(path), write)
    report[0].path = Path(path)
    return report[0]


def build_for_partition(layout: Layout, partition: str, label_dir: Path | None = None) -> BuildReport:
    """Build ``data/topo/<partition>/topo.db`` from the partition's clean structures (a row
    without a space group, as a folder of CIF files leaves it, gets spglib's: the labels join on it)."""

    from matassets.data import schema
    from matassets.data.spacegroups import fill_spacegroups
    from matassets.data.tables import read_table

    clean = fill_spacegroups(read_table(layout.structures(partition), "structures", partition))
    columns = [
        schema.ID,
        schema.FORMULA,
        schema.SPACEGROUP,
        schema.NSITES,
        schema.STRUCTURE,
        schema.SOURCE,
        "topo_label",
        "spillage",
    ]
    crystals = clean.select([c for c in columns if c in clean.columns]).to_dicts()
    return build_database(topo_db_path(layout, partition), crystals, label_dir)
