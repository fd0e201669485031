"""``dataset add | append | list | show | remove``: the data-set registry (``matassets/datasets``).

matassets dataset add alloys my_cifs/ --property mixing_enthalpy:eV/atom --licence "CC BY 4.0"
matassets dataset add jv sample_data/ --property opt_gap:eV          # ALIGNN id_prop folder
matassets dataset append alloys more_cifs/ [--replace]
matassets dataset train alloys --level smoke [--property P] [--dry-run]   # data, CGCNN and forest
matassets dataset list
matassets dataset show alloys [--json]
matassets dataset remove alloys
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from matassets.levels import PARTITIONS

ORDER = 15
# a data set's data assets, each level: what `dataset train` materializes before its models (the
# graphs too, which its CGCNN and the screening of it read)
DATA_STAGES = ("raw_structures", "structures", "splits", "crystal_graphs")


def _error(exc: Exception) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 2


def cmd_add(args: argparse.Namespace) -> int:
    from matassets import datasets

    try:
        manifest = datasets.add(
            args.name,
            Path(args.path),
            args.property or [],
            licence=args.licence,
            citation=args.citation,
            source=args.source,
            description=args.description,
        )
    except ValueError as exc:  # DataInputError names the file, row and field; DatasetError says why
        return _error(exc)
    folder = datasets.dataset_dir(manifest.name)
    print(f"added data set {manifest.name} version 1: {manifest.rows} rows ({manifest.format}) in {folder}")
    _print_properties(manifest)
    return 0


def cmd_append(args: argparse.Namespace) -> int:
    from matassets import datasets

    try:
        before = datasets.get(args.name).version
        manifest = datasets.append(
            args.name, Path(args.path), replace=args.replace, properties=args.property or []
        )
    except ValueError as exc:
        return _error(exc)
    if manifest.version == before:
        print(f"{args.path}: nothing new for data set {args.name} (version {before} unchanged)")
        return 0
    last = manifest.history[-1]
    print(
        f"data set {manifest.name} version {manifest.version}: {last['rows added']} rows added, "
        f"{last['rows replaced']} replaced, {last.get('rows unchanged', 0)} already present; "
        f"{manifest.rows} rows in all"
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from matassets import datasets

    manifests = datasets.list_datasets()
    if args.json:
        print(json.dumps([m.to_json() | {"files": len(m.files)} for m in manifests], indent=2))
        return 0
    print(f"{'name':16} {'version':>7} {'rows':>7}  {'format':17} properties")
    for m in manifests:
        rows = "-" if m.rows is None else str(m.rows)
        kind = "built-in" if m.builtin else m.format
        print(f"{m.name:16} {m.version:>7} {rows:>7}  {kind:17} {', '.join(m.property_names())}")
    return 0


def _print_properties(manifest) -> None:
    for p in manifest.properties:
        rng = f" [{p.range[0]:g}, {p.range[1]:g}]" if p.range else ""
        print(f"  {p.name:24} {p.unit or '(no unit)':12} {p.task}{rng}")


def cmd_show(args: argparse.Namespace) -> int:
    from matassets import datasets
    from matassets.datasets.registry import summary

    try:
        manifest = datasets.get(args.name)
    except ValueError as exc:
        return _error(exc)
    if args.json:
        print(
            json.dumps(manifest.to_json() if args.files else summary(manifest), indent=2, ensure_ascii=False)
        )
        return 0
    where = "built-in" if manifest.builtin else str(datasets.dataset_dir(manifest.name))
    print(f"{manifest.name} version {manifest.version} ({manifest.format}; {where})")
    if manifest.description:
        print(f"  {manifest.description}")
    print(f"rows: {'-' if manifest.rows is None else manifest.rows}")
    print("properties:")
    _print_properties(manifest)
    for label, value in (
        ("source", manifest.source),
        ("licence", manifest.licence),
        ("citation", manifest.citation),
    ):
        print(f"{label}: {value or '(not given)'}")
    print(f"files: {len(manifest.files)}" + (" (--files lists them)" if not args.files else ""))
    if args.files:
        for f in manifest.files:
            print(f"  {f['path']}  {f['bytes']} bytes  sha256 {f['sha256'][:16]}")
    for h in manifest.history:
        print(f"version {h['version']} {h['date']}: {h['rows']} rows, from {h['from']}")
    problems = datasets.verify(manifest.name)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    return 1 if problems else 0


def cmd_remove(args: argparse.Namespace) -> int:
    from matassets import datasets

    try:
        folder = datasets.remove(args.name)
    except ValueError as exc:
        return _error(exc)
    print(f"removed data set {args.name} ({folder}); models trained on it are left in place")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Materialize the data set's assets for a level: its data, then every model the family rows
    give it (``families.dataset_models``: CGCNN, the e3nn specialist and the composition forest per
    property; an extended-XYZ set's MACE potential), through ``run``'s path (``--dry-run`` shows the
    assets and the job)."""
    from matassets import datasets
    from matassets.cli import _common as common
    from matassets.cli.run import execute
    from matassets.families import dataset_models

    try:
        manifest = datasets.get(args.name)
    except ValueError as exc:
        return _error(exc)
    if manifest.builtin:
        return _error(ValueError(f"{args.name} is built in: train it with `matassets run ...`"))
    props = args.property or manifest.property_names()
    unknown = [p for p in props if p not in manifest.property_names()]
    if unknown:
        return _error(
            ValueError(f"data set {args.name} has no property {unknown}; it has {manifest.property_names()}")
        )
    models = [m.asset for m in dataset_models(manifest) if m.prop is None or m.prop.name in props]
    wanted = {f"{args.name}/{a}" for a in (*DATA_STAGES, *models)}
    infos = common.asset_infos()
    selection = [n for n in infos if n in wanted]  # upstream first
    return execute(selection, args.level, infos, {}, args.dry_run)


def register(sub) -> None:
    ds = sub.add_parser("dataset", help="register your own data: add, append, list, show, remove")
    ds_sub = ds.add_subparsers(dest="action", required=True)
    add = ds_sub.add_parser(
        "add",
        help="register CIF/POSCAR files + targets CSV, an id_prop folder, a CSV/JSON or extended XYZ",
    )
    add.add_argument("name", help="letters, digits and _ (prefixes the data set's assets)")
    add.add_argument("path", help="the folder or file to register (copied under data/datasets/NAME/)")
    for p in (add,):
        p.add_argument(
            "--property",
            action="append",
            metavar="COLUMN[:UNIT[:TASK[:LOW,HIGH]]]",
            help="describe a property column: unit ('-' = none), regression|classification, plausible "
            "range; canonical names (band_gap, ...) need none. Repeat for each column",
        )
    add.add_argument("--licence", default="", help="the data's licence (e.g. 'CC BY 4.0')")
    add.add_argument("--citation", default="", help="how to cite the data")
    add.add_argument("--source", default="", help="where the data came from (default: the path given)")
    add.add_argument("--description", default="")
    add.set_defaults(func=cmd_add)
    app = ds_sub.add_parser("append", help="a new version: the data set's rows plus those of PATH")
    app.add_argument("name")
    app.add_argument("path")
    app.add_argument(
        "--replace", action="store_true", help="ids already present take the new structure/values"
    )
    app.add_argument("--property", action="append", metavar="COLUMN[:UNIT[:TASK[:LOW,HIGH]]]")
    app.set_defaults(func=cmd_append)
    lst = ds_sub.add_parser("list", help="every data set: built-in and yours")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_list)
    show = ds_sub.add_parser("show", help="a data set's manifest: properties, source, licence, versions")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    show.add_argument("--files", action="store_true", help="list every file with its SHA-256")
    show.set_defaults(func=cmd_show)
    train = ds_sub.add_parser(
        "train", help="its assets for a level: files -> structures -> graphs -> each property's models"
    )
    train.add_argument("name")
    train.add_argument("--level", choices=PARTITIONS, default="smoke")
    train.add_argument("--property", action="append", help="only this property's models (repeatable)")
    train.add_argument("--dry-run", action="store_true", help="show the assets and the job, run nothing")
    train.set_defaults(func=cmd_train)
    rm = ds_sub.add_parser("remove", help="delete a data set of yours (data/datasets/NAME/)")
    rm.add_argument("name")
    rm.set_defaults(func=cmd_remove)
