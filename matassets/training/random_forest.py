"""The composition random forest of Phase 4 (``topo_classifier_rf``).

Data: the Topological Materials Arsenal labels in the partition's ``topo.db`` (one row per (reduced
formula, space group), conflicts already dropped). Split: grouped by reduced formula, so no formula
has rows on two sides. Features: ``topo.features`` (matminer Magpie, optionally space group).
Selection: every (max_features, class_weight) candidate of the preset is trained on train and scored
by validation ROC-AUC; the decision threshold is then chosen on validation (best balanced accuracy);
the test split is scored once, at the end. The model is saved with ``skops.io`` (numpy arrays and
JSON in a zip, no pickle) and loaded back trusting only scikit-learn's tree type.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from matassets.inference import domain
from matassets.io import sha256_text
from matassets.levels import ForestPreset
from matassets.paths import Layout
from matassets.reports.plots import roc_plot
from matassets.training import incremental
from matassets.training.classification import choose_threshold, metrics_at
from matassets.training.model_folder import ModelFolder, ModelOutput, conclude, verify
from matassets.training.run_record import build_run_record

ASSET = "topo_classifier_rf"
MODEL_FILE = "model.skops"
TRUSTED_TYPES = ["sklearn.tree._tree.Tree"]  # besides what skops trusts by default
SPLITS = ("train", "val", "test")


def grouped_split(groups: list[str], fractions: tuple[float, float, float], seed: int) -> np.ndarray:
    """Assign whole groups to train/val/test (seeded shuffle of the sorted distinct groups)."""
    distinct = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(distinct))
    n_train = int(round(fractions[0] * len(distinct)))
    n_val = int(round(fractions[1] * len(distinct)))
    side = {}
    for rank, i in enumerate(order):
        side[distinct[i]] = "train" if rank < n_train else "val" if rank < n_train + n_val else "test"
    return np.array([side[g] for g in groups])


def sample_formulas(rows: list[dict], max_labels: int | None, seed: int) -> list[dict]:
    """At most ``max_labels`` rows, taking whole formulas in a seeded order (all rows if None)."""
    if max_labels is None or len(rows) <= max_labels:
        return rows
    distinct = sorted({r["formula"] for r in rows})
    order = np.random.default_rng(seed).permutation(len(distinct))
    by_formula: dict[str, list[dict]] = {}
    for r in rows:
        by_formula.setdefault(r["formula"], []).append(r)
    chosen: list[dict] = []
    for i in order:
        group = by_formula[distinct[i]]
        if len(chosen) + len(group) > max_labels:
            continue
        chosen.extend(group)
        if len(chosen) == max_labels:
            break
    return sorted(chosen, key=lambda r: (r["formula"], r["spacegroup"]))


def forest(preset: ForestPreset, max_features, class_weight, classify: bool = True):
    """The preset's forest: a classifier, or a regressor (``classify=False``, no class weight)."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    kind, weight = (
        (RandomForestClassifier, {"class_weight": class_weight}) if classify else (RandomForestRegressor, {})
    )
    return kind(
        n_estimators=preset.n_estimators,
        max_depth=preset.max_depth,
        min_samples_leaf=preset.min_samples_leaf,
        max_features=max_features,
        random_state=preset.seed,
        n_jobs=max(1, os.cpu_count() or 1),
        **weight,
    )


def train_forest(
    layout: Layout,
    partition: str,
    preset: ForestPreset,
    db_path: Path,
    command: str,
    overrides: dict | None = None,
    dagster_run_id: str | None = None,
    output_tag: str = "",
    log: Callable[[str], None] = print,
    force: bool = False,
    promote: bool = True,
) -> ModelOutput:
    """Train, select and evaluate the forest; write its candidate (``training.model_folder``), the
    current model being ``models/topo_classifier_rf/<partition>/``; with ``output_tag`` (a tuning
    round) ``models/topo_classifier_rf/tuning/<output_tag>/``, leaving the current version alone. A
    folder trained from the same labels, preset and code is returned as it is unless ``force``
    (``training.incremental``). ``promote``: as ``graph_model.train_graph_model``."""
    import skops.io as sio
    from sklearn.metrics import roc_auc_score

    from matassets.topo.features import feature_names, featurize
    from matassets.topo.query import TopoDB

    start = time.perf_counter()
    folder = ModelFolder(layout, ASSET, partition, output_tag)
    provenance = folder.begin(dagster_run_id)
    with TopoDB(db_path) as db:
        data_hash = db.info()["content_hash"]
        inputs = {"partition": partition, "preset": asdict(preset), "data_hash": data_hash}
        key = incremental.input_key(inputs)
        previous = None if force else reused(folder, key, log)
        if previous is not None:
            return previous
        rows = db.composition_labels()
    rows = sample_formulas(rows, preset.max_labels, preset.seed)
    formulas = [r["formula"] for r in rows]
    split = grouped_split(formulas, preset.split_fractions, preset.seed)
    straddling = set.intersection(
        *({f for f, s in zip(formulas, split, strict=True) if s == name} for name in ("train", "test"))
    )
    if straddling:  # impossible by construction; a guard against a future edit
        raise AssertionError(f"formulas on both train and test: {sorted(straddling)[:5]}")
    split_hash = sha256_text(json.dumps(sorted(zip(formulas, split.tolist(), strict=True))))
    y = np.array([r["topological"] for r in rows], dtype=int)
    names = feature_names(preset.spacegroup_features)
    t0 = time.perf_counter()
    x = featurize(formulas, [r["spacegroup"] for r in rows], preset.spacegroup_features)
    sizes = {name: int(np.sum(split == name)) for name in SPLITS}
    log(
        f"{ASSET} [{partition}]: {len(rows)} labels, {len(set(formulas))} formulas, {sizes}, "
        f"{x.shape[1]} features in {time.perf_counter() - t0:.1f}s"
    )
    idx = {name: np.flatnonzero(split == name) for name in SPLITS}
    for name in SPLITS:
        if idx[name].size < 2 or len(set(y[idx[name]].tolist())) < 2:
            raise ValueError(f"{ASSET} [{partition}]: the {name} split needs both classes")
    majority = int(y[idx["train"]].mean() >= 0.5)

    selection: list[dict] = []
    best_model, best_auc = None, -1.0
    for max_features in preset.max_features:
        for class_weight in preset.class_weight:
            t0 = time.perf_counter()
            model = forest(preset, max_features, class_weight).fit(x[idx["train"]], y[idx["train"]])
            val_prob = model.predict_proba(x[idx["val"]])[:, 1]
            auc = float(roc_auc_score(y[idx["val"]], val_prob))
            selection.append(
                {
                    "max_features": max_features,
                    "class_weight": class_weight,
                    "val_roc_auc": auc,
                    "seconds": round(time.perf_counter() - t0, 2),
                }
            )
            log(f"  max_features={max_features} class_weight={class_weight}: val ROC-AUC {auc:.4f}")
            if auc > best_auc:
                best_model, best_auc = model, auc
    assert best_model is not None
    chosen = max(selection, key=lambda s: s["val_roc_auc"])
    prob = {name: best_model.predict_proba(x[idx[name]])[:, 1] for name in ("train", "val")}
    threshold = choose_threshold(y[idx["val"]], prob["val"])
    prob["test"] = best_model.predict_proba(x[idx["test"]])[:, 1]  # the test split, once
    metrics = {
        name: {"topo_label": metrics_at(y[idx[name]], prob[name], threshold, majority)} for name in SPLITS
    }
    importance = sorted(
        zip(names, best_model.feature_importances_.tolist(), strict=True), key=lambda t: -t[1]
    )

    staging = folder.stage()
    folder.save(MODEL_FILE, lambda tmp: sio.dump(best_model, tmp))
    folder.write_json(
        "config.json",
        {
            "asset": ASSET,
            "task": "topo_label",
            "classes": {"0": "trivial", "1": "topological (TI, TCI or semimetal)"},
            "features": names,
            "threshold": threshold,
            "chosen": {k: chosen[k] for k in ("max_features", "class_weight")},
            "preset": asdict(preset),
            domain.KEY: domain.counts(f for f, side in zip(formulas, split, strict=True) if side == "train"),
            "partition": partition,
            "model_file": MODEL_FILE,
            "format": "skops.io (no pickle); load with matassets.training.random_forest.load_forest",
        },
    )
    folder.write_json("metrics.json", {**metrics, "threshold": threshold, "selection": selection})
    folder.write_csv(
        "predictions.csv",
        ["formula", "spacegroup", "class", "split", "topo_label_true", "topo_label_prob"],
        [
            [rows[i]["formula"], rows[i]["spacegroup"], rows[i]["class"], name, int(y[i]), float(p)]
            for name in SPLITS
            for i, p in zip(idx[name], prob[name], strict=True)
        ],
    )
    folder.write_csv("feature_importance.csv", ["feature", "importance"], importance)
    roc_plot({n: (y[idx[n]], prob[n]) for n in ("val", "test")}, staging / "roc.png")
    from matassets.reports.plots import confusion_plot

    confusion_plot(
        metrics["test"]["topo_label"]["confusion_matrix"],
        ["trivial", "topological"],
        staging / "confusion.png",
    )
    record = build_run_record(
        phase="phase4",
        algorithm="rf",
        partition=partition,
        command=command,
        overrides=overrides or {},
        output_dir=folder.record_fields()["output_dir"],
        metrics=metrics,
        notes=[
            "labels: Topological Materials Arsenal (symmetry indicators), not JARVIS spillage",
            f"selected on validation ROC-AUC: {chosen['max_features']=}, {chosen['class_weight']=}",
            f"threshold {threshold:.4f} chosen on validation (max balanced accuracy)",
        ],
        data_hash=data_hash,
        split_hash=split_hash,
        seed=preset.seed,
        seconds=time.perf_counter() - start,
        dagster_run_id=dagster_run_id,
        extra={
            "tasks": ["topo_label"],
            "sizes": sizes,
            "split": "grouped by reduced formula",
            "plots": ["confusion.png", "roc.png"],
            "top_features": importance[:10],
            "input_key": key,
            **folder.record_fields(),
        },
        provenance=provenance,
        preset=preset,
    )
    candidate = folder.commit(record)
    details = {"selection": selection, "threshold": threshold}
    output = ModelOutput(candidate, metrics, record, None, details, folder=folder)
    if promote and not output_tag:
        conclude(output, [], by="direct call")
    return output


def reused(folder: ModelFolder, key: str, log: Callable[[str], None]) -> ModelOutput | None:
    """A forest's folder that is up to date with input key ``key`` (None: train): its metrics and
    the details saved beside them (selection, threshold, ...)."""
    record = folder.reusable(key, (MODEL_FILE, "config.json", "metrics.json"))
    if record is None:
        return None
    model_dir = folder.candidate if folder.output_tag else folder.final
    saved = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))
    note = incremental.skipped_note(model_dir, record)
    log(f"{folder.asset} [{record['partition']}]: {note}")
    metrics = {name: saved[name] for name in SPLITS}
    details = {k: v for k, v in saved.items() if k not in SPLITS}
    return ModelOutput(model_dir, metrics, record, None, details, note, folder, "current")


@dataclass
class LoadedForest:
    model: object
    config: dict

    def predict_proba(self, formulas: list[str], spacegroups: list[int]) -> np.ndarray:
        """Probability of the topological class for (formula, space group) pairs."""
        from matassets.topo.features import featurize
        from matassets.topo.labels import normalise_formula

        x = featurize(
            [normalise_formula(f) for f in formulas],
            spacegroups,
            self.config["preset"]["spacegroup_features"],
        )
        return self.model.predict_proba(x)[:, 1]

    def predict(self, formulas: list[str], spacegroups: list[int]) -> np.ndarray:
        return (self.predict_proba(formulas, spacegroups) >= self.config["threshold"]).astype(int)


def load_forest(model_dir: Path) -> LoadedForest:
    """Load a saved forest; refuses a file that asks for any type beyond scikit-learn's ``Tree``."""
    import skops.io as sio

    model_dir = Path(model_dir)
    verify(model_dir)  # a file changed since training is refused, naming it
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    path = model_dir / config["model_file"]
    untrusted = sio.get_untrusted_types(file=path)
    unexpected = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if unexpected:
        raise ValueError(f"{path} asks for types that are not trusted: {unexpected}")
    return LoadedForest(sio.load(path, trusted=list(untrusted)), config)
