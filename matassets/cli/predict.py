"""``predict`` (a trained model on CIF/POSCAR files) and ``summary`` (a level's data and models)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from matassets.cli import _common as common
from matassets.inference import domain
from matassets.levels import PARTITIONS
from matassets.paths import EMBEDDED

ORDER = 30


def _predicts(fam) -> bool:
    """Whether ``predict`` takes a model of family ``fam``: a graph model (a torch module of
    ``models/registry.py``) or a forest on formula and space group; not the potential (``relax``)."""
    return bool(fam.architecture) or fam.name == "random_forest"


def missing_model_message(layout, asset: str, partition: str) -> str | None:
    """Why ``asset`` cannot be loaded at ``partition`` and the command that trains it (derived from
    ``matassets.families``), or None when its folder holds a model."""
    from matassets.families import FAMILIES, family, family_of_asset, level_flag

    if asset == family("mace").asset:
        return (
            f"{asset} is an interatomic potential (energy, forces, stress), not a property model: "
            f"`matassets relax {level_flag(partition)} FILE` uses it"
        )
    folder = layout.model_dir(asset, partition)
    if (folder / "config.json").exists():
        return None
    trained = [p for p in PARTITIONS if (layout.model_dir(asset, p) / "config.json").exists()]
    have = f"; trained levels: {', '.join(trained)}" if trained else ""
    if layout.dataset != EMBEDDED:
        return _dataset_model_missing(layout, asset, partition) + have
    fam = family_of_asset(asset)
    if fam is None:
        known = ", ".join(a for f in FAMILIES if _predicts(f) for a in f.asset_names())
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
    from matassets.families import dataset_models

    name = layout.dataset
    models = {m.asset: m for m in dataset_models(datasets.get(name, layout.root)) if _predicts(m.family)}
    if asset not in models:
        return f"{asset} is not a model of data set {name}: choose from {', '.join(models)}"
    folder = layout.model_dir(asset, partition)
    model = models[asset]
    command = train_command(name, partition, model.prop.name, model.family)
    return (
        f"no trained {asset} model of data set {name} for level {partition} ({folder} has no "
        f"config.json): train it with `{command}`"
    )


def cmd_predict(args: argparse.Namespace) -> int:
    """One JSON line per readable file (a file that cannot be used: an error line naming it, exit
    1): its formula, the model's prediction and the file's elements no training crystal held."""
    from matassets.inference.predict import PredictInputError, read_structure_file
    from matassets.inference.screening import CHUNK
    from matassets.training.random_forest import MODEL_FILE

    try:
        layout = common.dataset_layout(args.dataset)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    missing = missing_model_message(layout, args.model, common.partition(args))
    if missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    folder = layout.model_dir(args.model, common.partition(args))
    forest = (folder / MODEL_FILE).is_file()
    try:
        model = _load(folder, forest)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    paths, unread = common.structure_paths(args.files)
    for line in unread:
        print(f"error: {line}", file=sys.stderr)
    failed = len(unread)
    for first in range(0, len(paths), CHUNK):  # lines come as each chunk is predicted
        files, structures = [], []
        for f in paths[first : first + CHUNK]:
            try:
                structure = read_structure_file(Path(f), args.max_sites)
                if not forest:
                    model.check_structure(f, structure)
                structures.append(structure)
                files.append(f)
            except PredictInputError as exc:
                print(f"error: {exc}", file=sys.stderr)
                failed += 1
        rows, refused = (
            _forest_rows(model, files, structures) if forest else (_graph_rows(model, files, structures), [])
        )
        for f, reason in refused:
            print(f"error: {f}: {reason}", file=sys.stderr)
        failed += len(refused)
        for out in rows:
            unseen = domain.unseen(model.config, out["formula"])
            if unseen is not None:
                out["unseen_elements"] = unseen
            if unseen:
                print(
                    f"warning: {out['file']}: {', '.join(unseen)} in no training crystal of {args.model}: "
                    "the prediction extrapolates",
                    file=sys.stderr,
                )
            print(json.dumps(out), flush=True)
    return 1 if failed else 0


def _load(folder: Path, forest: bool):
    from matassets.inference.predict import load_model
    from matassets.training.random_forest import load_forest

    return load_forest(folder) if forest else load_model(folder)


def _graph_rows(model, files: list[str], structures: list) -> list[dict]:
    """The output line of each file, by a graph model (``load_model``). An ensemble's: the
    members' mean, their standard deviation as <task>_std and, where the validation split gave a
    scale, the calibrated error bar <task>_sigma = scale × <task>_std."""
    if not structures:
        return []
    rows = []
    values, spread = model.predict_structures(files, structures, with_std=True)
    for f, structure, row, std in zip(files, structures, values, spread, strict=True):
        out = {"file": f, "formula": structure.composition.reduced_formula}
        out |= {t: float(v) for t, v in zip(model.tasks, row, strict=True)}
        if model.ensemble_size > 1:
            for t, v in zip(model.tasks, std, strict=True):
                out[f"{t}_std"] = float(v)
                if t in model.sigma_scales:
                    out[f"{t}_sigma"] = float(v) * model.sigma_scales[t]
            out["ensemble_size"] = model.ensemble_size
        rows.append(out)
    return rows


def _forest_rows(loaded, files: list[str], structures: list):
    """(output lines as ``_graph_rows``, [(file, reason refused)]) of a forest on formula and space group
    (``random_forest.load_forest``): a data set's property forest (its value; a classifier's
    probability of class 1) or the topological classifier (the probability of a topological
    label). A structure spglib finds no space group for is refused where the forest uses one."""
    import polars as pl

    from matassets.data import schema
    from matassets.data.spacegroups import spacegroup_number
    from matassets.training import property_forest

    use_spacegroup = loaded.config["preset"]["spacegroup_features"]
    formulas = [s.composition.reduced_formula for s in structures]
    groups = [spacegroup_number(s) if use_spacegroup else None for s in structures]
    keep = [k for k, g in enumerate(groups) if g is not None or not use_spacegroup]
    reason = "spglib finds no space group; the forest's features include it"
    refused = [(f, reason) for k, f in enumerate(files) if k not in keep]
    if not keep:
        return [], refused
    picked = {schema.ID: [files[k] for k in keep], schema.FORMULA: [formulas[k] for k in keep]}
    picked[schema.SPACEGROUP] = [groups[k] for k in keep]
    if "property" in loaded.config:
        values = property_forest.predict(loaded, pl.DataFrame(picked))
    else:
        values = loaded.predict_proba(picked[schema.FORMULA], picked[schema.SPACEGROUP])
    task = loaded.config["task"]
    rows = [
        {"file": files[k], "formula": formulas[k], task: float(v)} for k, v in zip(keep, values, strict=True)
    ]
    return rows, refused


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
    pred.add_argument("files", nargs="+", help="CIF or POSCAR files, or folders of them")
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
