"""A user's own crystals, without code: a folder of CIF/POSCAR files or one CSV/JSON table.

- ``load_folder``: every ``*.cif``, ``*.vasp``, ``*.poscar`` and ``POSCAR*`` file (id = file name
  without extension) plus an optional targets CSV (``targets.csv`` or ALIGNN's ``id_prop.csv`` in
  the folder are picked up by themselves). The CSV's first column names the file (with or without
  extension); with a header row the other columns are properties (any name of letters, digits and
  ``_``: the canonical targets or a data set's own), without one (ALIGNN ``filename,value``)
  ``target`` names the single value column.
- ``load_table``: a CSV or a JSON list with ``id``, ``structure`` (CIF text, POSCAR text, a pymatgen
  Structure dict/JSON, or the name of a structure file in the table's folder) and property columns.

Structures are stored as raw text and are NOT parsed here: validation parses each one once (in
worker processes). ``nsites`` is a cheap count from the text where the format allows it
(``parsing.count_sites``), so an oversized cell is refused before anyone parses it. Whole-file
problems raise ``DataInputError``; files larger than the limits of ``matassets.data.limits`` are
refused before they are read.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from matassets.data import limits, schema
from matassets.data.errors import DataInputError
from matassets.data.parsing import count_sites
from matassets.datasets.properties import check_name, strict_float

SOURCE_NAME = "user_files"
TARGETS_FILES = ("targets.csv", "id_prop.csv")
STRUCTURE_SUFFIXES = (".cif", ".vasp", ".poscar")
OPTIONAL_COLUMNS = (schema.STRUCTURE_FORMAT, schema.SPACEGROUP, schema.REFERENCE_SPLIT)
_MISSING = ("", "na", "n/a", "none", "null")
ROWS_PER_FRAME = 4096  # files read into row dicts before they become a polars frame


def _read_text(path: Path, limit: limits.Limit = limits.STRUCTURE_FILE) -> str:
    """The file's text (UTF-8, BOM allowed); empty, non-UTF-8 or oversized files are an error
    (the size is checked before a byte is read)."""
    if not path.is_file():
        raise DataInputError(path, "file does not exist")
    problem = limit.check_size(path.stat().st_size)
    if problem:
        raise DataInputError(path, problem)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataInputError(
            path,
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); re-save it as UTF-8",
        ) from exc
    if not text.strip():
        raise DataInputError(path, "empty file")
    return text


def is_structure_file(path: Path) -> bool:
    """A ``*.cif``, ``*.vasp``, ``*.poscar`` or ``POSCAR*`` file."""
    suffix = path.suffix.lower()
    return path.is_file() and (
        suffix in STRUCTURE_SUFFIXES
        or (path.name.upper().startswith("POSCAR") and suffix not in (".csv", ".json"))
    )


def _file_format(path: Path) -> str:
    return "cif" if path.suffix.lower() == ".cif" else "poscar"


def _text_format(text: str) -> str:
    """Guess the format of structure text: pymatgen JSON, CIF or POSCAR."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return "pymatgen_json"
    if stripped.startswith("data_") or "_cell_length_a" in text:
        return "cif"
    return "poscar"


def _structure_row(text: str | None, fmt: str, id_: str | None, origin: str) -> dict:
    """A raw row: the text as given (validation parses it), the cheap site count where known."""
    return {
        schema.ID: id_,
        schema.STRUCTURE: text,
        schema.STRUCTURE_FORMAT: fmt,
        schema.FORMULA: None,
        schema.NSITES: count_sites(text, fmt),
        schema.SOURCE: SOURCE_NAME,
        schema.ORIGIN: origin,
    }


def _number(raw: object, file: Path, row: int, field: str) -> float | None:
    """A target value: blank/"na" is missing, NaN/inf pass through, else it must be a number written
    with ASCII digits (``1_000`` and non-ASCII digits, which Python's float() accepts, are refused)."""
    if raw is None:
        return None
    if isinstance(raw, str) and raw.strip().lower() in _MISSING:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise DataInputError(file, f"not a number ({raw!r})", row=row, field=field)
    if not isinstance(raw, str):
        return float(raw)
    try:
        return strict_float(raw)
    except ValueError as exc:
        raise DataInputError(file, f"not a number ({raw!r})", row=row, field=field) from exc


def _looks_numeric(cell: str) -> bool:
    """True for a value cell (ALIGNN multi-value cells included), False for a column name."""
    first = cell.split()[0] if cell.split() else ""
    try:
        float(first)
    except ValueError:
        return first.lower() in _MISSING
    return True


def _check_targets(names: list[str], file: Path) -> None:
    """Property columns: any name of letters, digits and _ (a canonical target or a data set's own);
    its unit and task come from the data set's manifest (``matassets dataset add --property``)."""
    for name in names:
        try:
            check_name(name)
        except ValueError as exc:
            raise DataInputError(file, f"column {name!r}: {exc}", field=name) from exc
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataInputError(file, f"column(s) {repeated} appear more than once")


def _read_targets(path: Path, target: str) -> dict[str, tuple[int, dict[str, float | None]]]:
    """Targets CSV -> {key: (row, {target: value})}; the key is the first column as written."""
    rows = [r for r in csv.reader(io.StringIO(_read_text(path, limits.TABLE_FILE)))]
    header = rows[0]
    if len(header) > 2 and all(_looks_numeric(c) for c in header[1:]):
        raise DataInputError(
            path,
            f"{len(header) - 1} values and no column names; without a header only "
            "'filename,value' is read: add a header row naming the targets",
            row=1,
        )
    headerless = len(header) == 2 and _looks_numeric(header[1])
    if headerless:
        try:
            check_name(target)
        except ValueError as exc:
            raise DataInputError(path, f"the value column (no header) is read as {target!r}: {exc}") from exc
        names, first = [target], 1
    else:
        names, first = [c.strip() for c in header[1:]], 2
        if not names:
            raise DataInputError(path, "needs a first column naming the file and target columns")
        _check_targets(names, path)
        rows = rows[1:]
    if not any(rows):
        raise DataInputError(path, "empty file: no data rows under the header")
    out: dict[str, tuple[int, dict[str, float | None]]] = {}
    for n, cells in enumerate(rows, start=first):
        if not cells:
            continue
        if len(cells) != len(names) + 1:
            raise DataInputError(path, f"expected {len(names) + 1} cells, found {len(cells)}", row=n)
        key = cells[0].strip()
        if key in out:
            raise DataInputError(path, f"{key!r} is listed twice (first on row {out[key][0]})", row=n)
        values = {name: _number(c, path, n, name) for name, c in zip(names, cells[1:], strict=True)}
        out[key] = (n, values)
    return out


def _find_targets_csv(folder: Path) -> Path | None:
    found = [folder / name for name in TARGETS_FILES if (folder / name).is_file()]
    return found[0] if found else None


def structure_files(folder: Path) -> list[Path]:
    """The structure files of ``folder`` (``is_structure_file``), sorted; none is an error."""
    files = sorted(p for p in Path(folder).iterdir() if is_structure_file(p))
    if not files:
        raise DataInputError(folder, "no *.cif, *.vasp, *.poscar or POSCAR* files in this folder")
    return files


def load_folder(
    folder: Path, targets_csv: Path | None = None, target: str = "formation_energy"
) -> pl.DataFrame:
    """Every CIF/POSCAR file in ``folder`` as the canonical table, with targets from the CSV."""
    folder = Path(folder)
    files = structure_files(folder)
    by_key: dict[str, list[Path]] = {}
    for p in files:
        for key in {p.name, p.stem}:
            by_key.setdefault(key, []).append(p)
    targets_csv = Path(targets_csv) if targets_csv is not None else _find_targets_csv(folder)
    values: dict[Path, tuple[int, dict[str, float | None]]] = {}
    names: list[str] = []
    if targets_csv is not None:
        table = _read_targets(targets_csv, target)
        names = next((list(vals) for _, vals in table.values()), [])
        for key, (n, vals) in table.items():
            matches = by_key.get(key) or by_key.get(Path(key).name) or []
            if not matches:
                raise DataInputError(targets_csv, f"structure file {key!r} not found in {folder}", row=n)
            if len(matches) > 1:
                names = [m.name for m in matches]
                raise DataInputError(targets_csv, f"{key!r} matches several files {names}", row=n)
            values[matches[0]] = (n, vals)
    frames, rows = [], []
    for p in files:
        origin = str(p)
        row = _structure_row(_read_text(p), _file_format(p), p.stem, origin)
        if p in values:
            n, vals = values[p]
            row[schema.ORIGIN] = f"{origin}, {targets_csv} row {n}"
            row.update(vals)
        rows.append(row)
        if len(rows) == ROWS_PER_FRAME or p is files[-1]:  # row dicts cost ~3x the table's bytes
            frames.append(schema.canonical_frame(rows, properties=names))
            rows = []
    return pl.concat(frames)


def _table_records(path: Path) -> tuple[list[Mapping], int]:
    """The table's records and the row number of the first one (CSV header is row 1)."""
    text = _read_text(path, limits.TABLE_FILE)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        records = list(reader)
        if not records:
            raise DataInputError(path, "empty file: no data rows under the header")
        names = list(reader.fieldnames or [])
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise DataInputError(path, f"column(s) {repeated} appear more than once")
        for n, rec in enumerate(records, start=2):
            if None in rec:
                raise DataInputError(path, f"more cells than the {len(names)} columns", row=n)
            if None in rec.values():  # a short (e.g. truncated) row: DictReader fills in None
                raise DataInputError(path, f"fewer cells than the {len(names)} columns", row=n)
        return records, 2
    if suffix == ".json":
        problem = limits.JSON_DEPTH.check_json(text)
        if problem:
            raise DataInputError(path, problem)
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataInputError(path, f"not valid JSON ({exc.msg}, line {exc.lineno})") from exc
        if not isinstance(records, list):
            raise DataInputError(path, f"expected a JSON list of objects, found {type(records).__name__}")
        if not records:
            raise DataInputError(path, "empty file: the JSON list holds no records")
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                raise DataInputError(path, f"expected an object, found {type(rec).__name__}", row=i)
        return records, 0
    raise DataInputError(path, f"unsupported table type {suffix!r}; use .csv or .json")


def _structure_cell(raw: object, path: Path, n: int) -> tuple[str | None, str, str]:
    """(text, format, origin suffix) for a structure cell; a file name is read next to the table."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, "poscar", ""
    if isinstance(raw, Mapping):
        return json.dumps(raw), "pymatgen_json", ""
    if not isinstance(raw, str):
        raise DataInputError(
            path,
            f"expected text or an object, found {type(raw).__name__}",
            row=n,
            field=schema.STRUCTURE,
        )
    name = raw.strip()
    if "\n" not in name and (
        Path(name).suffix.lower() in STRUCTURE_SUFFIXES or Path(name).name.upper().startswith("POSCAR")
    ):
        file = path.parent / name
        folder = path.parent.resolve()
        if not file.resolve().is_relative_to(folder):  # no absolute paths, no ../, no links out
            raise DataInputError(
                path,
                f"structure file {name!r} is outside the table's folder {folder}; "
                "a table may name only files in its own folder (or below it)",
                row=n,
                field=schema.STRUCTURE,
            )
        if not file.is_file():
            raise DataInputError(
                path,
                f"structure file {name!r} not found next to the table",
                row=n,
                field=schema.STRUCTURE,
            )
        return _read_text(file), _file_format(file), f" ({file})"
    return raw, _text_format(raw), ""


def load_table(path: Path) -> pl.DataFrame:
    """One CSV or JSON table (``id``, ``structure``, targets) as the canonical table."""
    path = Path(path)
    records, first = _table_records(path)
    columns = list(dict.fromkeys(k for rec in records for k in rec))
    missing = [c for c in (schema.ID, schema.STRUCTURE) if c not in columns]
    if missing:
        raise DataInputError(path, f"missing required column(s) {missing}; found {columns}")
    extra = [c for c in columns if c not in (schema.ID, schema.STRUCTURE, *OPTIONAL_COLUMNS)]
    _check_targets(extra, path)
    rows = []
    for n, rec in enumerate(records, start=first):
        origin = f"{path} {'row' if first else 'record'} {n}"
        text, fmt, where = _structure_cell(rec.get(schema.STRUCTURE), path, n)
        fmt = str(rec.get(schema.STRUCTURE_FORMAT) or "").strip() or fmt
        if fmt not in schema.STRUCTURE_FORMATS:
            raise DataInputError(
                path,
                f"unknown structure format {fmt!r}; use one of {', '.join(schema.STRUCTURE_FORMATS)}",
                row=n,
                field=schema.STRUCTURE_FORMAT,
            )
        raw_id = rec.get(schema.ID)
        id_ = None if raw_id is None or str(raw_id).strip() == "" else str(raw_id).strip()
        row = _structure_row(text, fmt, id_, origin + where)
        sg = rec.get(schema.SPACEGROUP)
        if sg not in (None, ""):
            value = _number(sg, path, n, schema.SPACEGROUP)
            row[schema.SPACEGROUP] = int(value) if value is not None and value.is_integer() else None
        if rec.get(schema.REFERENCE_SPLIT):
            row[schema.REFERENCE_SPLIT] = str(rec[schema.REFERENCE_SPLIT])
        row.update({t: _number(rec.get(t), path, n, t) for t in extra})
        rows.append(row)
    return schema.canonical_frame(rows, properties=extra)


def load_user_source(
    path: Path, targets: Path | None = None, target: str = "formation_energy"
) -> pl.DataFrame:
    """A folder (``load_folder``) or a ``.csv``/``.json`` table (``load_table``)."""
    path = Path(path)
    if path.is_dir():
        return load_folder(path, targets, target=target)
    if not path.exists():
        raise DataInputError(path, "does not exist: give a folder of CIF/POSCAR files or a CSV/JSON")
    if targets is not None:
        raise DataInputError(
            targets,
            "a targets CSV goes with a folder of structure files; "
            f"{path.name} is a table and holds its targets itself",
        )
    return load_table(path)
