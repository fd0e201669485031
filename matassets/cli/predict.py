"""``predict`` (a trained model on CIF/POSCAR files) and ``summary`` (a level's data and models)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from matassets.cli import _common as common
from matassets.levels import PARTITIONS

ORDER = 30


def cmd_predict(args: argparse.Namespace) -> int:
    from matassets.inference.predict import PredictInputError, load_model, read_structure_file
    from matassets.paths import Layout, default_root

    try:
        model = load_model(Layout(default_root()).model_dir(args.model, common.partition(args)))
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ids, structures, failed = [], [], 0
    for f in args.files:
        try:
            structure = read_structure_file(Path(f))
            model.check_structure(f, structure)
            structures.append(structure)
            ids.append(f)
        except PredictInputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
    if structures:
        values = model.predict_structures(ids, structures)
        for f, row in zip(ids, values, strict=True):
            print(json.dumps({"file": f, **{t: float(v) for t, v in zip(model.tasks, row, strict=True)}}))
    return 1 if failed else 0


def cmd_summary(args: argparse.Namespace) -> int:
    from matassets.reports.summary import print_summary

    return print_summary(args.level)


def register(sub) -> None:
    pred = sub.add_parser("predict", help="predict with a trained model for CIF/POSCAR files")
    pred.add_argument("--model", required=True, help="asset name, e.g. cgcnn_formation_energy")
    common.level_args(pred)
    pred.add_argument("files", nargs="+")
    pred.set_defaults(func=cmd_predict)

    summary = sub.add_parser("summary", help="what a level's data and models look like now")
    summary.add_argument("--level", choices=PARTITIONS, default="smoke")
    summary.set_defaults(func=cmd_summary)
