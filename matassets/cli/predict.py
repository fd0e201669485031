"""``predict`` (a trained model on CIF/POSCAR files) and ``summary`` (a level's data and models)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from matassets.cli import _common as common
from matassets.levels import PARTITIONS
from matassets.paths import EMBEDDED

ORDER = 30


def missing_model_message(layout, asset: str, partition: str) -> str | None:
    """Why ``asset`` cannot be loaded at ``partition`` and the command that trains it (derived from
    ``matassets.families``), or None when its folder holds a model."""
    from matassets.families import FAMILIES, family_of_asset

    folder = layout.model_dir(asset, partition)
    if (folder / "config.json").exists():
        return None
    trained = [p for p in PARTITIONS if (layout.model_dir(asset, p) / "config.json").exists()]
    have = f"; trained levels: {', '.join(trained)}" if trained else ""
    if layout.dataset != EMBEDDED:
        return _dataset_model_missing(layout, asset, partition) + have
    fam = family_of_asset(asset)
    if fam is None:
        known = ", ".join(a for f in FAMILIES for a in f.asset_names())
        return f"{asset} is not a model of this installation: choose from {known}"
    prop = next((p for p in fam.properties if fam.asset_name(p) == asset), None)
    return (
        f"no trained {asset} model for level {partition} ({folder} has no config.json): train it with "
        f"`{fam.command(partition, prop)}`{have}"
    )


def _dataset_model_missing(layout, asset: str, partition: str) -> str:
    """``missing_model_message`` for a registered data set: its models, its train command."""
    from matassets import datasets
    from matassets.assets.dataset_models import train_command

    name = layout.dataset
    props = {f"cgcnn_{p}": p for p in datasets.get(name, layout.root).property_names()}
    if asset not in props:
        return f"{asset} is not a model of data set {name}: choose from {', '.join(props)}"
    folder = layout.model_dir(asset, partition)
    return (
        f"no trained {asset} model of data set {name} for level {partition} ({folder} has no "
        f"config.json): train it with `{train_command(name, partition, props[asset])}`"
    )


def cmd_predict(args: argparse.Namespace) -> int:
    from matassets.inference.predict import PredictInputError, load_model, read_structure_file

    try:
        layout = common.dataset_layout(args.dataset)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    missing = missing_model_message(layout, args.model, common.partition(args))
    if missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    try:
        model = load_model(layout.model_dir(args.model, common.partition(args)))
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ids, structures, failed = [], [], 0
    for f in args.files:
        try:
            structure = read_structure_file(Path(f), args.max_sites)
            model.check_structure(f, structure)
            structures.append(structure)
            ids.append(f)
        except PredictInputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
    # an ensemble's: the members' mean, their standard deviation as <task>_std and, where the
    # validation split gave a scale, the calibrated error bar <task>_sigma = scale × <task>_std;
    # unseen_elements: those no training crystal held (absent for a folder that does not know)
    if structures:
        values, spread = model.predict_structures(ids, structures, with_std=True)
        for f, structure, row, std in zip(ids, structures, values, spread, strict=True):
            out = {"file": f, "formula": structure.composition.reduced_formula}
            out |= {t: float(v) for t, v in zip(model.tasks, row, strict=True)}
            if model.ensemble_size > 1:
                for t, v in zip(model.tasks, std, strict=True):
                    out[f"{t}_std"] = float(v)
                    if t in model.sigma_scales:
                        out[f"{t}_sigma"] = float(v) * model.sigma_scales[t]
                out["ensemble_size"] = model.ensemble_size
            unseen = model.unseen_elements(structure)
            if unseen is not None:
                out["unseen_elements"] = unseen
            if unseen:
                print(
                    f"warning: {f}: {', '.join(unseen)} in no training crystal of {args.model}: "
                    "the prediction extrapolates",
                    file=sys.stderr,
                )
            print(json.dumps(out))
    return 1 if failed else 0


def cmd_summary(args: argparse.Namespace) -> int:
    from matassets.reports.summary import print_summary

    try:
        layout = common.dataset_layout(args.dataset)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return print_summary(args.level, layout)


def register(sub) -> None:
    pred = sub.add_parser(
        "predict",
        help=(
            "predict with a trained model for CIF/POSCAR files, one JSON line each (an ensemble: mean, "
            "<task>_std and the calibrated error bar <task>_sigma; unseen_elements: the file's elements "
            "no training crystal held)"
        ),
    )
    pred.add_argument("--model", required=True, help="asset name, e.g. cgcnn_formation_energy")
    common.level_args(pred)
    common.dataset_arg(pred)
    pred.add_argument("files", nargs="+", help="CIF or POSCAR files")
    pred.add_argument(
        "--max-sites",
        type=int,
        default=1000,
        help="refuse cells with more atoms, counted before parsing (default 1000)",
    )
    pred.set_defaults(func=cmd_predict)

    summary = sub.add_parser("summary", help="what a level's data and models look like now")
    summary.add_argument("--level", choices=PARTITIONS, default="smoke")
    common.dataset_arg(summary)
    summary.set_defaults(func=cmd_summary)
