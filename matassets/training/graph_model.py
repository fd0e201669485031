"""Train one graph model on one partition and write everything a user needs beside it.

Reads the partition's clean structures, split manifest and graph store; trains with the shared
``Trainer``; evaluates train/val/test once with the best-on-validation weights; writes the model
folder (weights, config, normalisation, metrics, history, predictions, plots, run record) through
``training.model_folder``: a candidate, promoted to the current model by its checks.
"""

from __future__ import annotations

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
from matassets.data.splits import SPLITS, SplitManifest
from matassets.graphs.sharded import load_store
from matassets.inference import domain
from matassets.io import sha256_file, sha256_text, torch_save
from matassets.levels import MIN_LABELLED, DataPreset, TrainPreset
from matassets.models.registry import build_model
from matassets.paths import Layout
from matassets.training import ensemble, graph_report, incremental
from matassets.training.model_folder import ModelFolder, ModelOutput, conclude
from matassets.training.objectives import BinaryObjective, RegressionObjective
from matassets.training.options import RunOptions
from matassets.training.run_record import build_run_record
from matassets.training.trainer import FitResult, GraphSplit, Trainer

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
NOT_INPUTS = ("command", "overrides", "scaled", "dagster_run_id", "options", "warm_start")


def invariant_architecture(family: str, preset: TrainPreset, data: DataPreset) -> dict:
    """The ``architecture`` block of an invariant message-passing model (CGCNN, TopoGNN)."""
    architecture = {
        "family": family,
        "hidden": preset.hidden,
        "n_layers": preset.n_layers,
        "cutoff": data.cutoff,
        "gaussian_step": data.gaussian_step,
        "dropout": preset.dropout,
    }
    if preset.element_bias:
        if family != "cgcnn":
            raise ValueError(f"element_bias=true: only CGCNN has a per-element output term, not {family}")
        architecture["element_bias"] = True
    # only when on: the architecture of every earlier model stays as it was
    for option, what in (("angle_bins", "bond-angle features"), ("angle_order", "angular messages")):
        value = getattr(preset, option)
        if value and family not in ("cgcnn", "topognn"):
            raise ValueError(
                f"{option}={value}: only the gated convolutions (CGCNN, TopoGNN) take {what}, not {family}"
            )
        if value:
            architecture[option] = value
    return architecture


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
    # preset fields scaled to a registered data set (levels.dataset_train_preset): field -> the
    # change and its rule in words, for the run record's notes and runbook deviations
    scaled: dict[str, str] = field(default_factory=dict)
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


def labelled_splits(
    layout: Layout, partition: str, tasks: list[str]
) -> tuple[dict[str, pl.DataFrame], SplitManifest]:
    """Each split's clean structures with a label of ``tasks`` (what a model of ``tasks`` trains
    and is judged on), and the split manifest."""
    from matassets.data.tables import read_table

    clean = read_table(layout.structures(partition), "structures", partition)
    manifest = load_splits(layout, partition)
    labelled = clean.filter(pl.any_horizontal(pl.col(t).is_not_null() for t in tasks))
    parts = {name: labelled.filter(pl.col(schema.ID).is_in(manifest.ids(name))) for name in SPLITS}
    return parts, manifest


def load_split_data(layout: Layout, spec: RunSpec) -> tuple[dict[str, GraphSplit], dict]:
    parts, manifest = labelled_splits(layout, spec.partition, spec.tasks)
    store = load_store(current_graphs_path(layout, spec.partition))
    splits: dict[str, GraphSplit] = {}
    for name, part in parts.items():
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
        "graphs_key": json.loads(layout.graphs_pointer(spec.partition).read_text(encoding="utf-8"))["key"],
        "sizes": {k: len(v) for k, v in splits.items()},
        # each split's crystals per element, from the formulas: no graph is read for it (test_rules)
        "elements": {name: domain.counts(part[schema.FORMULA].to_list()) for name, part in parts.items()},
    }
    return splits, info


def model_folder(layout: Layout, spec: RunSpec) -> ModelFolder:
    """``spec``'s model folder: current model, candidates, work folder (``training.model_folder``)."""
    return ModelFolder(layout, spec.asset, spec.partition, spec.output_tag)


def input_key(layout: Layout, spec: RunSpec) -> str:
    """The hash of what decides ``spec``'s model files (``training.incremental``): the spec's
    fields (preset after overrides, architecture, tasks, data and graph settings, seed), the device
    its ``device`` resolves to here, the data and split hashes of the split manifest, the graph
    store's key, a warm start's weights and the code version. Reads small files only."""
    from matassets.training.distributed import device_type

    manifest = load_splits(layout, spec.partition)
    pointer = json.loads(layout.graphs_pointer(spec.partition).read_text(encoding="utf-8"))
    inputs = {k: v for k, v in asdict(spec).items() if k not in NOT_INPUTS}
    inputs |= {"seed": spec.seed, "nproc": spec.nproc, "device": device_type(spec.preset.device)}
    inputs |= {"data_hash": manifest.data_version, "split_hash": manifest.hash, "graphs": pointer["key"]}
    if spec.warm_start:
        inputs["warm_start_sha256"] = sha256_file(Path(spec.warm_start) / "model.pt")
    return incremental.input_key(inputs)


def _reused(layout: Layout, spec: RunSpec, log: Callable[[str], None]) -> ModelOutput | None:
    """The current model folder as a ``ModelOutput`` when it is up to date and not ``spec.force``."""
    folder = model_folder(layout, spec)
    record = None if spec.force else folder.reusable(input_key(layout, spec), OUTPUT_FILES)
    if record is None:
        return None
    final_dir = folder.candidate if spec.output_tag else folder.final
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
    metrics = {k: saved[k] for k in ("train", "val", "test")}
    return ModelOutput(final_dir, metrics, record, fit, skipped=note, folder=folder, status="current")


def run_lock_path(layout: Layout, spec: RunSpec) -> Path:
    """The lock file of a run: one per asset partition (one per candidate in a tuning round)."""
    return model_folder(layout, spec).lock


def train_graph_model(
    layout: Layout,
    spec: RunSpec,
    log: Callable[[str], None] = print,
    stop: Callable[[int], bool] | None = None,
    promote: bool = True,
) -> ModelOutput:
    """Train ``spec`` and write its candidate folder; a second run of the same asset partition
    started meanwhile fails at once with ``RunInProgressError`` (it would share the checkpoint
    and the staging folder). When the current folder was written from the same inputs and code
    (``input_key``) it is returned as it is, unless ``spec.force`` (``ModelOutput.skipped`` says so).

    ``promote``: make the candidate the current model at once, without checks (a direct call); the
    assets pass False and judge it first (``model_folder.conclude``).

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
        output = _reused(layout, spec, log)
        if output is None and spec.nproc > 1 and not distributed.active():
            if stop is not None:
                raise ValueError("stop() cannot reach spawned training processes; use nproc=1")
            output = distributed.spawn(
                _train_graph_model, spec.nproc, (layout, spec), log, spec.preset.device
            )
        elif output is None:
            output = _train_graph_model(layout, spec, log, stop)
        if promote and output.status == "candidate" and output.record:
            conclude(output, [], by="direct call", lock=False)
        return output


def _train_graph_model(
    layout: Layout,
    spec: RunSpec,
    log: Callable[[str], None] = print,
    stop: Callable[[int], bool] | None = None,
) -> ModelOutput:
    from matassets.training import distributed

    start = time.perf_counter()
    folder = model_folder(layout, spec)
    _set_threads()
    provenance = folder.begin(spec.dagster_run_id)  # git, code, libraries, hardware: as the run starts
    if not distributed.is_main():
        log = distributed.quiet
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
    run_key = sha256_text(
        json.dumps(
            [spec.architecture, spec.tasks, info["data_hash"], info["split_hash"]]
            + ([warm["model_sha256"]] if warm else []),
            sort_keys=True,
        )
    )
    trainer = Trainer(model, objective, spec.preset, folder.work, spec.seed, log=log, run_key=run_key)
    log(
        f"{spec.asset} [{spec.partition}]: {info['sizes']} crystals, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters, on {distributed.where(trainer.device)}"
    )
    fit = trainer.fit(splits["train"], splits["val"], stop=stop)
    if stop is not None and fit.stop_reason == "stopped by caller":
        return ModelOutput(folder.final, {}, {}, fit, folder=folder, status="current")
    # members 1 … ensemble_size - 1, seeds seed + k (training.ensemble); one member: none
    members = ensemble.fit_members(
        spec, trainer, fit, splits, info["split_hash"], folder.work, run_key, log, stop, _objective
    )
    if members.stopped:
        return ModelOutput(folder.final, {}, {}, fit, folder=folder, status="current")

    device = trainer.device
    # the members' mean (one member: its outputs); the test split is evaluated here, once
    outputs = members.predict(splits, objective, spec.preset.batch_size, device)
    metrics = {name: objective.metrics(splits[name].y, outputs[name]) for name in splits}
    if not distributed.is_main():  # rank 0 writes the model folder
        return ModelOutput(folder.final, metrics, {}, fit, folder=folder, status="current")
    notes = graph_report.anomalies(fit, layout, spec.partition) + list(spec.scaled.values())

    staging = folder.stage()
    folder.save("model.pt", lambda tmp: torch_save(trainer.best_model.cpu().state_dict(), tmp))
    members.save(folder)  # member_<k>.pt for k >= 1
    folder.write_json(
        "config.json",
        {
            "asset": spec.asset,
            "tasks": spec.tasks,
            "architecture": spec.architecture,
            "preset": asdict(spec.preset),
            "graph": {"cutoff": spec.data.cutoff, "max_neighbors": spec.data.max_neighbors},
            "objective": objective.kind,
            domain.KEY: info["elements"]["train"],
            **({"warm_start": warm} if warm else {}),
            "partition": spec.partition,
        },
    )
    folder.write_json("normalization.json", objective.state())
    ensemble_report = members.report(splits, outputs, objective, spec.tasks)  # ensemble, calibration
    folder.write_json(
        "metrics.json",
        {
            **metrics,
            "best_epoch": fit.best_epoch,
            "epochs_run": fit.epochs_run,
            "stop_reason": fit.stop_reason,
            **ensemble_report,
        },
    )
    folder.write_rows("history.csv", fit.history)
    rows = graph_report.prediction_rows(splits, outputs, spec.tasks, members.spreads)
    folder.write_rows("predictions.csv", rows)
    plots = graph_report.plots(staging, spec.tasks, splits, outputs, fit, objective.kind)
    plots += members.plots(staging, splits, outputs, spec.tasks, objective.kind, ensemble_report)
    plots.append(graph_report.elements_plot(staging, f"{spec.asset} [{spec.partition}]", info["elements"]))
    record = build_run_record(
        phase=spec.phase,
        algorithm=spec.algorithm,
        partition=spec.partition,
        command=spec.command,
        overrides=spec.overrides,
        output_dir=folder.record_fields()["output_dir"],
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
            "options": asdict(spec.options),  # the run options: seed, nproc, force, output_tag
            "device": str(trainer.device),
            "input_key": key,
            "graphs_key": info["graphs_key"],
            **folder.record_fields(),
        },
        provenance=provenance,
        preset=spec.preset,
        scaled=spec.scaled,
    )
    candidate = folder.commit(record)
    trainer.finish()
    members.finish()
    return ModelOutput(candidate, metrics, record, fit, folder=folder)
