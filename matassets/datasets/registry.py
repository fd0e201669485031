"""The data-set registry: add, append, list, show, remove.

A user's data set lives in ``data/datasets/<name>/``::

    manifest.json        name, version, properties (unit, task, range), source, licence, citation,
                         input format, files with their SHA-256, one history entry per version
    table.parquet        the canonical table (``matassets.data.schema``) of the current version:
                         every version's rows, old ∪ new; structures as given (parsed by validation)
    files/v<N>/...       the files each version was made from, as given (provenance)

The built-in data sets (``embedded``, ``mlearn``, ``topo_labels``) ship their manifests in
``matassets/datasets/builtin/`` and point at files already in the repository; they cannot be
changed or removed here.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from matassets.data import schema
from matassets.data.errors import DataInputError
from matassets.datasets.ingest import (
    check_values,
    copy_input,
    detect_format,
    file_entries,
    read_input,
    resolve_properties,
    with_defaults,
)
from matassets.datasets.manifest import MANIFEST, Manifest, check_dataset_name, sha256_file
from matassets.datasets.properties import BUILTIN_DIR, Property, canonical_properties, parse_spec

TABLE = "table.parquet"


class DatasetError(ValueError):
    """A data-set operation that cannot be done; the message says why and what to do."""


def _root(root: Path | None) -> Path:
    from matassets.paths import default_root

    return Path(root) if root is not None else default_root()


def datasets_dir(root: Path | None = None) -> Path:
    return _root(root) / "data" / "datasets"


def dataset_dir(name: str, root: Path | None = None) -> Path:
    return datasets_dir(root) / check_dataset_name(name)


def builtin_manifests() -> dict[str, Manifest]:
    out = {}
    for path in sorted(BUILTIN_DIR.glob("*.json")):
        if path.name == "properties.json":
            continue
        manifest = Manifest.read(path)
        out[manifest.name] = manifest
    return out


def list_datasets(root: Path | None = None) -> list[Manifest]:
    """The built-in data sets, then the user's (by name)."""
    out = list(builtin_manifests().values())
    folder = datasets_dir(root)
    if folder.is_dir():
        for sub in sorted(folder.iterdir()):
            if (sub / MANIFEST).is_file():
                out.append(Manifest.read(sub / MANIFEST))
    return out


def get(name: str, root: Path | None = None) -> Manifest:
    builtin = builtin_manifests()
    if name in builtin:
        return builtin[name]
    path = dataset_dir(name, root) / MANIFEST
    if not path.is_file():
        known = ", ".join(m.name for m in list_datasets(root))
        raise DatasetError(f"no data set {name!r}; registered: {known} (matassets dataset list)")
    return Manifest.read(path)


def property_info(name: str, dataset: str | None = None, root: Path | None = None) -> Property:
    """A property's unit, task and range: from the data set's manifest, else the canonical list."""
    if dataset is not None:
        manifest = get(dataset, root)
        if name in manifest.property_names():
            return manifest.property(name)
    canon = canonical_properties()
    if name in canon:
        return canon[name]
    where = f"data set {dataset!r}" if dataset else "the canonical properties"
    raise DatasetError(f"unknown property {name!r} in {where}")


def load_table(name: str, root: Path | None = None) -> pl.DataFrame:
    """The data set's canonical table (the embedded snapshot is read from its shipped file)."""
    manifest = get(name, root)
    if manifest.format == "embedded_mp":
        from matassets.data.embedded import load_embedded
        from matassets.paths import PROJECT_ROOT

        return load_embedded(PROJECT_ROOT / manifest.files[0]["path"])
    if manifest.table is None:
        raise DatasetError(f"data set {name!r} ({manifest.format}) has no structure table")
    path = dataset_dir(name, root) / manifest.table
    digest = sha256_file(path)
    if manifest.table_sha256 and digest != manifest.table_sha256:
        raise DatasetError(
            f"{path}: content hash {digest[:12]} differs from the manifest's {manifest.table_sha256[:12]}; "
            f"the table was changed outside matassets: restore it (dvc checkout / git) or re-add the data set"
        )
    return pl.read_parquet(path)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_table(frame: pl.DataFrame, folder: Path) -> str:
    from matassets.io import atomic_write

    path = folder / TABLE
    atomic_write(path, lambda tmp: frame.write_parquet(tmp))
    return sha256_file(path)


def _with_source(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    return frame.with_columns(pl.lit(name).alias(schema.SOURCE))


def add(
    name: str,
    path: Path,
    properties: Sequence[Property | str] = (),
    *,
    licence: str = "",
    citation: str = "",
    source: str = "",
    description: str = "",
    root: Path | None = None,
) -> Manifest:
    """Register ``path`` (a folder of CIF/POSCAR files with a targets CSV, an ALIGNN id_prop folder,
    a CSV/JSON table or an extended-XYZ file) as data set ``name``, version 1."""
    check_dataset_name(name)
    if name in builtin_manifests():
        raise DatasetError(f"{name!r} is a built-in data set; choose another name")
    folder = dataset_dir(name, root)
    if (folder / MANIFEST).exists():
        raise DatasetError(
            f"data set {name!r} already exists ({folder}); add data to it with "
            f"`matassets dataset append {name} PATH`, or remove it first"
        )
    path = Path(path)
    props = [parse_spec(p) if isinstance(p, str) else p for p in properties]
    fmt = detect_format(path)
    props = with_defaults(fmt, props)
    frame = read_input(path, fmt, props)
    if frame.height == 0:
        raise DataInputError(path, "no structures found")
    where = _where(path, fmt)
    resolved = resolve_properties(frame, props, where)
    check_values(frame, resolved, where)
    frame = _with_source(frame, name)
    _refuse_repeated_ids(frame, path)
    staging = folder.with_name(f".{name}.adding")
    if staging.exists():
        shutil.rmtree(staging)
    try:
        copied = copy_input(path, staging / "files" / "v1", fmt)
        digest = _write_table(frame, staging)
        manifest = Manifest(
            name=name,
            format=fmt,
            properties=resolved,
            version=1,
            description=description,
            source=source or str(path.resolve()),
            licence=licence,
            citation=citation,
            rows=frame.height,
            table=TABLE,
            table_sha256=digest,
            files=file_entries(copied, staging, 1),
            history=[
                {
                    "version": 1,
                    "date": _now(),
                    "from": str(path.resolve()),
                    "rows added": frame.height,
                    "rows replaced": 0,
                    "rows": frame.height,
                    "table_sha256": digest,
                }
            ],
        )
        manifest.write(staging / MANIFEST)
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return manifest


def _where(path: Path, fmt: str) -> Path:
    """The file an error about the input's columns names: the table, or the folder's targets CSV."""
    if not path.is_dir():
        return path
    from matassets.data.user_files import _find_targets_csv

    return _find_targets_csv(path) or path


def _refuse_repeated_ids(frame: pl.DataFrame, where: Path) -> None:
    counts = frame.group_by(schema.ID).len().filter(pl.col("len") > 1)
    if counts.height:
        ids = sorted(str(i) for i in counts[schema.ID].to_list())
        raise DataInputError(
            where, f"id(s) appear more than once: {ids[:20]}{' ...' if len(ids) > 20 else ''}"
        )


def _same_structure(a: dict, b: dict) -> bool:
    """Same text, or parsed to the same structure (StructureMatcher, which ignores the setting)."""
    if a[schema.STRUCTURE] == b[schema.STRUCTURE]:
        return True
    from matassets.data.parsing import parse_structure

    try:
        sa = parse_structure(a[schema.STRUCTURE], a[schema.STRUCTURE_FORMAT])
        sb = parse_structure(b[schema.STRUCTURE], b[schema.STRUCTURE_FORMAT])
    except ValueError:
        return False
    from pymatgen.analysis.structure_matcher import StructureMatcher

    return len(sa) == len(sb) and StructureMatcher(primitive_cell=False, scale=False).fit(sa, sb)


def _same_value(x: float | None, y: float | None) -> bool:
    if x is None or y is None:
        return x is None and y is None
    return x == y or (math.isnan(x) and math.isnan(y))


def _merged(old: pl.DataFrame, incoming: pl.DataFrame, replaced: set[str]) -> pl.DataFrame:
    """``old`` with each replaced row taken from ``incoming`` in its place, then the new rows. A
    replaced row keeps its position: a capped level draws its sample by row position
    (``data.validation``), so replacing one value must not re-draw a smoke or lite sample."""
    at = "__row"
    ids = list(replaced)
    kept = old.with_row_index(at).filter(~pl.col(schema.ID).is_in(ids))
    swapped = incoming.filter(pl.col(schema.ID).is_in(ids)).join(
        old.select(schema.ID).with_row_index(at), on=schema.ID
    )
    in_place = pl.concat([kept, swapped.select(kept.columns)], how="vertical").sort(at).drop(at)
    return pl.concat([in_place, incoming.filter(~pl.col(schema.ID).is_in(ids))], how="vertical")


def append(
    name: str,
    path: Path,
    replace: bool = False,
    properties: Sequence[Property | str] = (),
    root: Path | None = None,
) -> Manifest:
    """A new version of data set ``name``: its rows ∪ those of ``path``. An id already present with
    a different structure or a different value is an error listing the ids, unless ``replace``
    (then the new rows win). Rows identical to stored ones are not added twice."""
    manifest = get(name, root)
    if manifest.builtin:
        raise DatasetError(f"{name!r} is a built-in data set; register your data under a name of its own")
    folder = dataset_dir(name, root)
    path = Path(path)
    given = [parse_spec(p) if isinstance(p, str) else p for p in properties]
    known = {p.name: p for p in manifest.properties}
    fmt = detect_format(path)
    given = with_defaults(fmt, given)
    props = given + [p for p in manifest.properties if p.name not in {g.name for g in given}]
    new = _with_source(read_input(path, fmt, props if fmt == "id_prop_folder" else given), name)
    where = _where(path, fmt)
    resolved = resolve_properties(new, given + list(manifest.properties), where)
    for p in resolved:
        if p.name in known and known[p.name] != p:
            raise DatasetError(
                f"--property {p.name}: the data set already defines it as {known[p.name].to_json()}"
            )
    check_values(new, resolved, where)
    _refuse_repeated_ids(new, path)
    old = load_table(name, root)
    names = list(dict.fromkeys([*manifest.property_names(), *(p.name for p in resolved)]))
    cols = schema.columns(names)
    old = old.select(
        [pl.col(c) if c in old.columns else pl.lit(None, dtype=t).alias(c) for c, t in cols.items()]
    )
    new = new.select(
        [pl.col(c) if c in new.columns else pl.lit(None, dtype=t).alias(c) for c, t in cols.items()]
    )
    old_by_id = {r[schema.ID]: r for r in old.iter_rows(named=True)}
    conflicts, same = [], set()
    for row in new.iter_rows(named=True):
        prev = old_by_id.get(row[schema.ID])
        if prev is None:
            continue
        differ = [c for c in names if c in new.columns and not _same_value(prev[c], row[c])]
        if not _same_structure(prev, row):
            differ.insert(0, "structure")
        if differ:
            conflicts.append(f"{row[schema.ID]} ({', '.join(differ)})")
        else:
            same.add(row[schema.ID])
    if conflicts and not replace:
        shown = "; ".join(conflicts[:20]) + (
            f"; ... {len(conflicts) - 20} more" if len(conflicts) > 20 else ""
        )
        raise DatasetError(
            f"{path}: {len(conflicts)} id(s) already in data set {name!r} with a different structure or "
            f"value: {shown}. Give --replace to take the new rows, or rename those ids"
        )
    incoming = new.filter(~pl.col(schema.ID).is_in(list(same)))
    if incoming.height == 0 and set(names) == set(manifest.property_names()):
        return manifest  # nothing new: the version stays
    replaced = set(incoming[schema.ID].to_list()) & set(old_by_id)
    merged = _merged(old, incoming, replaced)
    version = manifest.version + 1
    copied = copy_input(path, folder / "files" / f"v{version}", fmt)
    digest = _write_table(merged, folder)
    manifest.version = version
    manifest.properties = [known.get(n) or next(p for p in resolved if p.name == n) for n in names]
    manifest.rows = merged.height
    manifest.table_sha256 = digest
    manifest.files = manifest.files + file_entries(copied, folder, version)
    manifest.history = manifest.history + [
        {
            "version": version,
            "date": _now(),
            "from": str(path.resolve()),
            "rows added": incoming.height - len(replaced),
            "rows replaced": len(replaced),
            "rows unchanged": len(same),
            "rows": merged.height,
            "table_sha256": digest,
        }
    ]
    manifest.write(folder / MANIFEST)
    return manifest


def remove(name: str, root: Path | None = None) -> Path:
    """Delete a user data set's folder (its manifest, table and copied files)."""
    if name in builtin_manifests():
        raise DatasetError(f"{name!r} is a built-in data set and cannot be removed")
    folder = dataset_dir(name, root)
    if not (folder / MANIFEST).is_file():
        raise DatasetError(f"no data set {name!r} in {folder.parent}")
    trash = folder.with_name(f".{name}.removing")
    if trash.exists():
        shutil.rmtree(trash)
    folder.rename(trash)  # one rename: a crash leaves either the data set or nothing visible
    shutil.rmtree(trash)
    return folder


def verify(name: str, root: Path | None = None) -> list[str]:
    """Files whose content no longer matches the manifest's SHA-256 (empty: all intact)."""
    from matassets.paths import PROJECT_ROOT

    manifest = get(name, root)
    base = PROJECT_ROOT if manifest.builtin else dataset_dir(name, root)
    problems = []
    for entry in manifest.files:
        f = base / entry["path"]
        if not f.is_file():
            problems.append(f"{f}: missing")
        elif sha256_file(f) != entry["sha256"]:
            problems.append(f"{f}: content differs from the manifest's SHA-256")
    return problems


def summary(manifest: Manifest) -> dict:
    """What ``dataset show`` prints: the manifest less the per-file list, plus counts."""
    data = manifest.to_json()
    data["properties"] = [p.to_json() for p in manifest.properties]
    data["files"] = f"{len(manifest.files)} file(s)"
    return data


def dumps(data: object) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)
