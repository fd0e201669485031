"""Train one graph model on one partition and write everything a user needs beside it.

Reads the partition's clean structures, split manifest and graph store; trains with the shared
``Trainer``; evaluates train/val/test once with the best-on-validation weights; writes the model
folder (weights, config, normalisation, metrics, history, predictions, plots, run record) into a
staging folder that replaces the previous version only when complete.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import torch

from matassets.data import schema
from matassets.data.pipeline import current_graphs_path, load_splits
from matassets.graphs.sharded import load_store
from matassets.io import atomic_write, replace_dir, sha256_file, sha256_text, write_json
from matassets.levels import DataPreset, TrainPreset
from matassets.models.registry import build_model
from matassets.paths import Layout
from matassets.reports.plots import learning_curve, parity_plot
from matassets.training import incremental
from matassets.training.objectives import BinaryObjective, RegressionObjective
from matassets.training.options import RunOptions
from matassets.training.run_record import build_run_record
from matassets.training.trainer import FitResult, GraphSplit, Trainer, predict

MIN_LABELLED = {"train": 8, "val": 2, "test": 2}
# every model folder has these (plots vary by objective); a folder without one is retrained
OUTPUT_FILES = (
    "model.pt",
    "config.json",
    "normalization.json",
    "metrics.json",
    "history.csv",
    "predictions.csv",
    "run_record.json",
)
# RunSpec fields that do not change the model's files: left out of the input key
NOT_INPUTS = ("command", "overrides", "dagster_run_id", "options", "warm_start")


def invariant_architecture(family: str, preset: TrainPreset, data: DataPreset) -> dict:
    """The ``architecture`` block of an invariant message-passing model (CGCNN, TopoGNN)."""
    return {
        "family": family,
        "hidden": preset.hidden,
        "n_layers": preset.n_layers,
        "cutoff": data.cutoff,
        "gaussian_step": data.gaussian_step,
        "dropout": preset.dropout,
    }


@dataclass
class RunSpec:
    asset: str
    phase: str
    algorithm: str
    tasks: list[str]
    partition: str
    architecture: dict
    preset: TrainPreset
    data: DataPreset
    command: str
    overrides: dict = field(default_factory=dict)  # the preset fields the run config changed (the record)
    options: RunOptions = field(default_factory=RunOptions)
    dagster_run_id: str | None = None
    warm_start: str | None = None  # a trained model folder whose encoder initialises this model

    @property
    def output_tag(self) -> str:
        """Set: write to models/<asset>/tuning/<tag>/ (a tuning round's candidate)."""
        return self.options.output_tag

    @property
    def force(self) -> bool:
        """Retrain even when the model folder is up to date (training.incremental)."""
        return self.options.force

    @property
    def nproc(self) -> int:
        """Data-parallel training processes on this machine (training.distributed)."""
        return self.options.nproc

    @property
    def seed(self) -> int:
        """The training seed (initialisation, data order); the split's seed is ``data.seed``."""
        return self.options.training_seed(self.data.seed)


@dataclass
class RunOutput:
    model_dir: Path
    metrics: dict
    record: dict
    fit: object
    skipped: str = ""  # why training was skipped (the folder was up to date); "" = trained


def _set_threads() -> None:
    """Torch threads = cores (shared out among the processes of a data-parallel run on this
    machine), or ``$MATASSETS_THREADS`` (on a machine shared with other jobs, threads waiting on
    descheduled siblings made e3nn training 10-20x slower with 2 than with 1)."""
    import os

    cores = (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE") or 1)
    torch.set_num_threads(max(1, int(os.environ.get("MATASSETS_THREADS") or cores)))


def _objective(spec: RunSpec):
    if all(schema.TARGETS[t].kind == "binary" for t in spec.tasks):
        return BinaryObjective(spec.tasks)
    return RegressionObjective(
        spec.tasks,
        loss=spec.preset.loss,
        huber_delta=spec.preset.huber_delta,
        task_weights=spec.preset.task_weights,
    )


def load_split_data(layout: Layout, spec: RunSpec) -> tuple[dict[str, GraphSplit], dict]:
    clean = pl.read_parquet(layout.structures(spec.partition))
    manifest = load_splits(layout, spec.partition)
    store = load_store(current_graphs_path(layout, spec.partition))
    labelled = clean.filter(pl.any_horizontal(pl.col(t).is_not_null() for t in spec.tasks))
    splits: dict[str, GraphSplit] = {}
    for name in ("train", "val", "test"):
        part = labelled.filter(pl.col(schema.ID).is_in(manifest.ids(name)))
        y = part.select(spec.tasks).to_numpy().astype(np.float32)
        splits[name] = GraphSplit(store, store.index_of(part[schema.ID].to_list()), y)
        if len(part) < MIN_LABELLED[name]:
            raise ValueError(
                f"{spec.asset} [{spec.partition}]: only {len(part)} {name} crystals have "
                f"{'/'.join(spec.tasks)}; at least {MIN_LABELLED[name]} are needed. "
                "Use a larger level or a data source with more labels."
            )
    info = {
        "data_hash": manifest.data_version,
        "split_hash": manifest.hash,
        "sizes": {k: len(v) for k, v in splits.items()},
    }
    return splits, info


def model_dirs(layout: Layout, spec: RunSpec) -> tuple[Path, Path]:
    """(the model folder, its work folder: checkpoint and staging) of ``spec``."""
    if spec.output_tag:  # a tuning round: a candidate folder; the current version stays as it is
        final_dir = layout.tuning_model_dir(spec.asset, spec.output_tag)
        return final_dir, final_dir.parent / ".work" / final_dir.name
    final_dir = layout.model_dir(spec.asset, spec.partition)
    return final_dir, final_dir.parent / ".work" / spec.partition


def input_key(layout: Layout, spec: RunSpec) -> str:
    """The hash of what decides ``spec``'s model files (``training.incremental``): the spec's
    fields (preset after overrides, architecture, tasks, data and graph settings, seed), the data
    and split hashes of the split manifest, the graph store's key, a warm start's weights and the
    code version. Reads small files only."""
    manifest = load_splits(layout, spec.partition)
    pointer = json.loads(layout.graphs_pointer(spec.partition).read_text(encoding="utf-8"))
    inputs = {k: v for k, v in asdict(spec).items() if k not in NOT_INPUTS}
    inputs |= {"seed": spec.seed, "nproc": spec.nproc}
    inputs |= {"data_hash": manifest.data_version, "split_hash": manifest.hash, "graphs": pointer["key"]}
    if spec.warm_start:
        inputs["warm_start_sha256"] = sha256_file(Path(spec.warm_start) / "model.pt")
    return incremental.input_key(inputs)


def _reused(layout: Layout, spec: RunSpec, log: Callable[[str], None]) -> RunOutput | None:
    """The existing model folder as a ``RunOutput`` when it is up to date and not ``spec.force``."""
    final_dir, _ = model_dirs(layout, spec)
    record = None if spec.force else incremental.finished_record(final_dir, OUTPUT_FILES)
    if record is None or record.get("input_key") != input_key(layout, spec):
        return None
    saved = json.loads((final_dir / "metrics.json").read_text(encoding="utf-8"))
    history = pl.read_csv(final_dir / "history.csv").to_dicts()
    best = next((h for h in history if h["epoch"] == saved["best_epoch"]), {})
    fit = FitResult(
        best_epoch=saved["best_epoch"],
        best_score=best.get("val_score", float("nan")),
        epochs_run=saved["epochs_run"],
        stopped_early=saved["stop_reason"].startswith("early stop"),
        stop_reason=saved["stop_reason"],
        history=history,
    )
    note = incremental.skipped_note(final_dir, record)
    log(f"{spec.asset} [{spec.partition}]: {note}")
    return RunOutput(final_dir, {k: saved[k] for k in ("train", "val", "test")}, record, fit, note)


def run_lock_path(layout: Layout, spec: RunSpec) -> Path:
    """The lock file of a run: one per asset partition (one per candidate in a tuning round)."""
    name = spec.output_tag or spec.partition
    return layout.model_dir(spec.asset, spec.partition).parent / ".work" / f"{name}.lock"


def train_graph_model(
    layout: Layout,
    spec: RunSpec,
    log: Callable[[str], None] = print,
    stop: Callable[[int], bool] | None = None,
) -> RunOutput:
    """Train ``spec`` and write its model folder; a second run of the same asset partition
    started meanwhile fails at once with ``RunInProgressError`` (it would share the checkpoint
    and the staging folder). When the folder was written from the same inputs and code
    (``input_key``) it is returned as it is, unless ``spec.force`` (``RunOutput.skipped`` says so).

    Data-parallel: in a process started by ``torchrun`` every rank calls this (rank 0 holds the
    lock and writes); with ``spec.nproc`` > 1 this process starts ``nproc`` ranks itself and
    returns rank 0's result (``training.distributed``).
    """
    from matassets.locks import run_lock
    from matassets.training import distributed

    distributed.init_from_env()
    if not distributed.is_main():  # every rank decides alike: rank 0 writes only after training
        return _reused(layout, spec, log) or _train_graph_model(layout, spec, log, stop)
    with run_lock(run_lock_path(layout, spec), f"{spec.asset} [{spec.partition}]"):
        reused = _reused(layout, spec, log)
        if reused is not None:
            return reused
        if spec.nproc > 1 and not distributed.active():
            if stop is not None:
                raise ValueError("stop() cannot reach spawned training processes; use nproc=1")
            return distributed.spawn(_train_graph_model, spec.nproc, (layout, spec), log)
        return _train_graph_model(layout, spec, log, stop)


def _train_graph_model(
    layout: Layout,
    spec: RunSpec,
    log: Callable[[str], None] = print,
    stop: Callable[[int], bool] | None = None,
) -> RunOutput:
    from matassets.training import distributed

    start = time.perf_counter()
    if not distributed.is_main():
        log = distributed.quiet
    _set_threads()
    key = input_key(layout, spec)  # before the data are read: a later change retrains
    splits, info = load_split_data(layout, spec)
    objective = _objective(spec)
    objective.fit(splits["train"].y)
    torch.manual_seed(spec.seed)
    model = build_model(spec.architecture)
    warm = None
    if spec.warm_start:
        from matassets.training.warm_start import load_pretrained_encoder

        warm = load_pretrained_encoder(model, Path(spec.warm_start), info["split_hash"])
        log(f"warm start: {warm['tensors']} encoder tensors from {warm['source']}")
    final_dir, work_dir = model_dirs(layout, spec)
    run_key = sha256_text(
        json.dumps(
            [spec.architecture, spec.tasks, info["data_hash"], info["split_hash"]]
            + ([warm["model_sha256"]] if warm else []),
            sort_keys=True,
        )
    )
    log(
        f"{spec.asset} [{spec.partition}]: {info['sizes']} crystals, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters"
    )
    trainer = Trainer(model, objective, spec.preset, work_dir, spec.seed, log=log, run_key=run_key)
    fit = trainer.fit(splits["train"], splits["val"], stop=stop)
    if stop is not None and fit.stop_reason == "stopped by caller":
        return RunOutput(final_dir, {}, {}, fit)

    device = trainer.device
    outputs = {
        name: objective.decode(predict(trainer.best_model, split, spec.preset.batch_size, device))
        for name, split in splits.items()
    }  # the test split is evaluated here, once
    metrics = {name: objective.metrics(splits[name].y, outputs[name]) for name in splits}
    if not distributed.is_main():  # rank 0 writes the model folder
        return RunOutput(final_dir, metrics, {}, fit)
    notes = _anomalies(fit, layout, spec)

    staging = work_dir / "staging"
    if staging.exists():
        import shutil

        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    atomic_write(staging / "model.pt", lambda tmp: torch.save(trainer.best_model.cpu().state_dict(), tmp))
    write_json(
        staging / "config.json",
        {
            "asset": spec.asset,
            "tasks": spec.tasks,
            "architecture": spec.architecture,
            "preset": asdict(spec.preset),
            "graph": {"cutoff": spec.data.cutoff, "max_neighbors": spec.data.max_neighbors},
            "objective": objective.kind,
            **({"warm_start": warm} if warm else {}),
            "partition": spec.partition,
        },
    )
    write_json(staging / "normalization.json", objective.state())
    write_json(
        staging / "metrics.json",
        {
            **metrics,
            "best_epoch": fit.best_epoch,
            "epochs_run": fit.epochs_run,
            "stop_reason": fit.stop_reason,
        },
    )
    _write_rows(staging / "history.csv", fit.history)
    _write_predictions(staging / "predictions.csv", splits, outputs, spec.tasks)
    plots = _plots(staging, spec, splits, outputs, fit, objective.kind)
    record = build_run_record(
        phase=spec.phase,
        algorithm=spec.algorithm,
        partition=spec.partition,
        command=spec.command,
        overrides=spec.overrides,
        output_dir=str(final_dir),
        metrics=metrics,
        notes=notes,
        data_hash=info["data_hash"],
        split_hash=info["split_hash"],
        seed=spec.seed,
        seconds=time.perf_counter() - start,
        dagster_run_id=spec.dagster_run_id,
        extra={
            "tasks": spec.tasks,
            "sizes": info["sizes"],
            "best_epoch": fit.best_epoch,
            "plots": sorted(p.name for p in plots),
            **({"warm_start": warm} if warm else {}),
            "input_key": key,
            "code_version": incremental.code_version(),
        },
    )
    write_json(staging / "run_record.json", record)
    replace_dir(staging, final_dir)
    trainer.finish()
    return RunOutput(final_dir, metrics, record, fit)


def _anomalies(fit, layout: Layout, spec: RunSpec) -> list[str]:
    notes = [fit.stop_reason]
    if fit.resumed_from_epoch:
        notes.append(f"resumed from a checkpoint at epoch {fit.resumed_from_epoch}")
    quarantine = layout.quarantine(spec.partition)
    if quarantine.exists():
        n = pl.read_parquet(quarantine).height
        if n:
            notes.append(f"{n} quarantined entries in this partition's data (see quarantine.parquet)")
    return notes


def _write_rows(path: Path, rows: list[dict]) -> None:
    columns = sorted({k for r in rows for k in r}, key=lambda k: (k != "epoch", k))

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)


def _write_predictions(
    path: Path, splits: dict[str, GraphSplit], outputs: dict[str, np.ndarray], tasks: list[str]
) -> None:
    rows = []
    for name, split in splits.items():
        for k, idx in enumerate(split.index):
            row = {"id": split.store.ids[idx], "split": name}
            for t, task in enumerate(tasks):
                row[f"{task}_true"] = float(split.y[k, t])
                row[f"{task}_pred"] = float(outputs[name][k, t])
            rows.append(row)
    _write_rows(path, rows)


def _plots(folder: Path, spec: RunSpec, splits, outputs, fit, kind: str) -> list[Path]:
    label = "validation 1 - balanced accuracy" if kind == "binary" else "validation score (MAE/MAD)"
    plots = [learning_curve(fit.history, folder / "learning_curve.png", score_label=label)]
    if kind == "binary":  # test-split confusion matrix at the 0.5 probability threshold
        from matassets.reports.plots import confusion_plot

        for t, task in enumerate(spec.tasks):
            y, prob = splits["test"].y[:, t], outputs["test"][:, t]
            y, pred = y[~np.isnan(y)].astype(int), (prob[~np.isnan(y)] >= 0.5).astype(int)
            matrix = [[int(np.sum((y == a) & (pred == b))) for b in (0, 1)] for a in (0, 1)]
            name = "confusion.png" if len(spec.tasks) == 1 else f"confusion_{task}.png"
            plots.append(confusion_plot(matrix, ["0", "1"], folder / name))
    if kind != "regression":
        return plots
    for t, task in enumerate(spec.tasks):
        series = {}
        for name in ("val", "test"):
            mask = ~np.isnan(splits[name].y[:, t])
            series[name] = (splits[name].y[mask, t], outputs[name][mask, t])
        unit = schema.TARGETS[task].unit
        name = "parity.png" if len(spec.tasks) == 1 else f"parity_{task}.png"
        plots.append(parity_plot(series, f"{task} ({unit})" if unit else task, folder / name))
    return plots
