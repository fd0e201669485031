"""A random forest on composition for one property of a registered data set (``D/forest_<property>``).

Data: the data set's clean structures of the level and its split manifest, the split every model of
that level uses (no split of its own: the preset's ``split_fractions`` and ``max_labels`` are the
topological forest's). Features: ``topo.features`` (Magpie composition, optionally space group).
A regression property trains a ``RandomForestRegressor`` (candidates chosen on validation MAE, the
mean predictor the baseline); a classification property a ``RandomForestClassifier`` (candidates
chosen on validation ROC-AUC, the threshold on validation, the majority class the baseline). The
test split is scored once, at the end. The structures table leaves a space group null unless the
source gave one or the level's split needed it: the forest computes its own rows' missing ones
(``data.spacegroups.fill_spacegroups``, in worker processes). Saved with ``skops.io`` and loaded by
``random_forest.load_forest``, through the same ``ModelFolder`` as every model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict

import numpy as np
import polars as pl

from matassets.data import schema
from matassets.data.pipeline import load_splits
from matassets.data.spacegroups import fill_spacegroups
from matassets.data.tables import read_table
from matassets.datasets.properties import Property
from matassets.inference import domain
from matassets.levels import ForestPreset
from matassets.paths import Layout
from matassets.training import incremental
from matassets.training.classification import choose_threshold, metrics_at
from matassets.training.metrics import regression_metrics
from matassets.training.model_folder import ModelFolder, ModelOutput
from matassets.training.random_forest import MODEL_FILE, SPLITS, forest, reused
from matassets.training.run_record import build_run_record


def _features(clean: pl.DataFrame, spacegroup: bool, asset: str) -> np.ndarray:
    """The forest's input matrix of rows of a structures table (``spacegroup``: the preset's
    ``spacegroup_features``; a row without one gets spglib's, ``fill_spacegroups``); training and
    screening both call it."""
    from matassets.topo.features import featurize

    if spacegroup:
        clean = fill_spacegroups(clean)
    missing = clean.filter(pl.col(schema.SPACEGROUP).is_null())[schema.ID].to_list()
    if spacegroup and missing:
        raise ValueError(
            f"{asset}: spglib finds no {schema.SPACEGROUP} for rows {missing[:5]}; "
            "set spacegroup_features=false to train on composition only"
        )
    return featurize(clean[schema.FORMULA].to_list(), clean[schema.SPACEGROUP].to_list(), spacegroup)


def predict(loaded, clean: pl.DataFrame) -> np.ndarray:
    """A saved forest's (``random_forest.load_forest``) predictions for rows of a structures table,
    from the features it was trained on: a regressor's values, a classifier's probability of class 1
    (as a graph classifier predicts). With space-group features, a row without one gets spglib's;
    one spglib finds none for is refused (``screening`` skips those first)."""
    config = loaded.config
    x = _features(clean, config["preset"]["spacegroup_features"], config["asset"])
    if config["property"]["task"] == "classification":
        return loaded.model.predict_proba(x)[:, -1]
    return loaded.model.predict(x)


def _select(preset: ForestPreset, classify: bool, x: dict, y: dict, log) -> tuple[object, list[dict]]:
    """Every candidate of the preset trained on train and scored on validation; the best one."""
    from sklearn.metrics import roc_auc_score

    weights = preset.class_weight if classify else (None,)
    selection, best, best_score = [], None, -np.inf
    for max_features in preset.max_features:
        for class_weight in weights:
            t0 = time.perf_counter()
            model = forest(preset, max_features, class_weight, classify).fit(x["train"], y["train"])
            if classify:
                both = len(set(y["val"].tolist())) == 2
                prob = model.predict_proba(x["val"])[:, -1]
                score = (
                    float(roc_auc_score(y["val"], prob))
                    if both
                    else -float(np.mean((prob >= 0.5) != y["val"]))
                )
                row = {"class_weight": class_weight, "val_roc_auc" if both else "val_minus_error": score}
            else:
                mae = float(np.mean(np.abs(model.predict(x["val"]) - y["val"])))
                score, row = -mae, {"val_mae": mae}
            selection.append(
                {"max_features": max_features, **row, "seconds": round(time.perf_counter() - t0, 2)}
            )
            log(f"  {selection[-1]}")
            if score > best_score:
                best, best_score = model, score
    return best, selection


def train_property_forest(
    layout: Layout,
    asset: str,
    prop: Property,
    partition: str,
    preset: ForestPreset,
    command: str,
    phase: str,
    algorithm: str,
    overrides: dict | None = None,
    dagster_run_id: str | None = None,
    output_tag: str = "",
    log: Callable[[str], None] = print,
    force: bool = False,
) -> ModelOutput:
    """Train the forest of ``prop`` on ``layout``'s data set and write its candidate (never promoted
    here: the caller's gates decide); ``phase`` and ``algorithm`` are its family's, for the run
    record. A folder trained from the same data, split, preset and code is returned as it is unless
    ``force`` (``training.incremental``)."""
    import skops.io as sio

    from matassets.reports.plots import confusion_plot, parity_plot, roc_plot
    from matassets.topo.features import feature_names

    start = time.perf_counter()
    classify = prop.task == "classification"
    folder = ModelFolder(layout, asset, partition, output_tag)
    provenance = folder.begin(dagster_run_id)
    manifest = load_splits(layout, partition)
    inputs = {"partition": partition, "preset": asdict(preset), "property": asdict(prop)}
    key = incremental.input_key(inputs | {"data_hash": manifest.data_version, "split_hash": manifest.hash})
    previous = None if force else reused(folder, key, log)
    if previous is not None:
        return previous
    clean = read_table(layout.structures(partition), "structures", partition)
    clean = clean.filter(pl.col(prop.name).is_not_null())
    side = np.array([manifest.assignment.get(i, "") for i in clean[schema.ID].to_list()])
    x_all = _features(clean, preset.spacegroup_features, asset)
    y_all = clean[prop.name].to_numpy().astype(int if classify else np.float64)
    idx = {name: np.flatnonzero(side == name) for name in SPLITS}
    x, y = {n: x_all[i] for n, i in idx.items()}, {n: y_all[i] for n, i in idx.items()}
    sizes = {name: int(i.size) for name, i in idx.items()}
    log(f"{asset} [{partition}]: {prop.name} ({prop.task}), {sizes}, {x_all.shape[1]} features")
    for name in SPLITS:
        if sizes[name] < 2 or (classify and name == "train" and len(set(y[name].tolist())) < 2):
            raise ValueError(
                f"{asset} [{partition}]: the {name} split has {sizes[name]} labelled crystals"
                + (" of one class; a classifier needs both" if classify else "; at least 2 are needed")
            )
    model, selection = _select(preset, classify, x, y, log)
    if classify:
        majority = int(y["train"].mean() >= 0.5)
        prob = {n: model.predict_proba(x[n])[:, -1] for n in ("train", "val")}
        threshold = choose_threshold(y["val"], prob["val"])
        prob["test"] = model.predict_proba(x["test"])[:, -1]  # the test split, once
        metrics = {n: {prop.name: metrics_at(y[n], prob[n], threshold, majority)} for n in SPLITS}
        pred, details = prob, {"selection": selection, "threshold": threshold}
    else:
        train_mean = float(y["train"].mean())
        pred = {n: model.predict(x[n]) for n in SPLITS}  # test predicted after selection, once
        metrics = {n: {prop.name: regression_metrics(y[n], pred[n], train_mean)} for n in SPLITS}
        details = {"selection": selection, "train_mean": train_mean}
    names = feature_names(preset.spacegroup_features)
    importance = sorted(zip(names, model.feature_importances_.tolist(), strict=True), key=lambda t: -t[1])

    staging = folder.stage()
    folder.save(MODEL_FILE, lambda tmp: sio.dump(model, tmp))
    config = {
        "asset": asset,
        "task": prop.name,
        "property": asdict(prop),
        "features": names,
        "preset": asdict(preset),
        domain.KEY: domain.counts(clean[schema.FORMULA][idx["train"]].to_list()),
    }
    folder.write_json("config.json", config | details | {"partition": partition, "model_file": MODEL_FILE})
    folder.write_json("metrics.json", {**metrics, **details})
    ids = clean[schema.ID].to_list()
    folder.write_csv(
        "predictions.csv",
        ["id", "formula", "split", f"{prop.name}_true", f"{prop.name}_pred"],
        [
            [ids[i], clean[schema.FORMULA][int(i)], n, y[n][k].item(), float(pred[n][k])]
            for n in SPLITS
            for k, i in enumerate(idx[n])
        ],
    )
    folder.write_csv("feature_importance.csv", ["feature", "importance"], importance)
    if classify:
        plots = ["roc.png", "confusion.png"]
        roc_plot({n: (y[n], prob[n]) for n in ("val", "test")}, staging / plots[0])
        confusion_plot(metrics["test"][prop.name]["confusion_matrix"], ["0", "1"], staging / plots[1])
    else:
        plots = ["parity.png"]
        parity_plot(
            {n: (y[n], pred[n]) for n in ("val", "test")}, f"{prop.name} ({prop.unit})", staging / plots[0]
        )
    record = build_run_record(
        phase=phase,
        algorithm=algorithm,
        partition=partition,
        command=command,
        overrides=overrides or {},
        output_dir=folder.record_fields()["output_dir"],
        metrics=metrics,
        notes=[f"composition random forest on {prop.name}; candidates chosen on validation: {selection}"],
        data_hash=manifest.data_version,
        split_hash=manifest.hash,
        seed=preset.seed,
        seconds=time.perf_counter() - start,
        dagster_run_id=dagster_run_id,
        extra={
            "tasks": [prop.name],
            "sizes": sizes,
            "plots": plots,
            "top_features": importance[:10],
            "input_key": key,
            **folder.record_fields(),
        },
        provenance=provenance,
        preset=preset,
    )
    candidate = folder.commit(record)
    return ModelOutput(candidate, metrics, record, None, details, folder=folder)
