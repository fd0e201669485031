"""The MACE potential's model folder: train (``mace_runner``), evaluate once (``potential_eval``), write.

The folder, written through ``training.model_folder`` (a candidate, promoted by its checks): MACE's
model file and its TorchScript export, ``metrics.json`` (per split and element), ``history.csv``,
``predictions.csv``, parity plots for energy and forces, the learning curve, MACE's full log,
``e0s.json`` and ``run_record.json``.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from matassets.levels import MacePreset
from matassets.paths import Layout
from matassets.training.mace_runner import MODEL_NAME, MaceRun, train_mace
from matassets.training.model_folder import ModelFolder, ModelOutput, conclude

ASSET = "mace_potential"
PREDICTION_HEADER = [
    "uid", "split", "element", "n_atoms", "energy_true_eV_per_atom", "energy_pred_eV_per_atom",
    "force_mae_eV_per_A",
]  # fmt: skip


def _prediction_rows(preds) -> list[list]:
    return [
        [
            p.uid,
            p.split,
            p.element,
            p.n_atoms,
            p.energy_ref / p.n_atoms,
            p.energy_pred / p.n_atoms,
            float(abs(p.forces_pred - p.forces_ref).mean()),
        ]  # fmt: skip
        for p in preds
    ]


def train_potential(
    layout: Layout,
    data_dir: Path,
    preset: MacePreset,
    *,
    partition: str,
    command: str,
    overrides: dict | None = None,
    dagster_run_id: str | None = None,
    log: Callable[[str], None] = print,
    force: bool = False,
    output_tag: str = "",
    promote: bool = True,
) -> ModelOutput:
    """Train on ``data_dir``'s train/val files, evaluate val and test once, write the candidate; a
    current folder trained from the same data, preset and code is returned as it is unless ``force``
    (``training.incremental``). ``promote``: as ``graph_model.train_graph_model``. ``preset.per_element``:
    also one model per element beside it (``training.potential_per_element``), ``mace_<X>.model``,
    its errors under ``per_element`` in ``metrics.json``. ``preset.device`` is resolved here first
    (``auto`` → ``cpu`` or ``cuda``): the key, the record and MACE see the device used."""
    from matassets.data.mlearn import read_manifest
    from matassets.io import sha256_text
    from matassets.reports.plots import history_plot, parity_plot
    from matassets.training import incremental
    from matassets.training.distributed import device_type
    from matassets.training.potential_eval import evaluate_potential, parity_series
    from matassets.training.potential_per_element import model_file, train_per_element
    from matassets.training.run_record import build_run_record

    preset = replace(preset, device=device_type(preset.device))
    start = time.perf_counter()
    folder = ModelFolder(layout, ASSET, partition, output_tag)
    provenance = folder.begin(dagster_run_id)
    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    inputs = {"partition": partition, "preset": asdict(preset)}
    key = incremental.input_key(inputs | {k: manifest[k] for k in ("data_hash", "split_hash")})
    reused = None if force else _reused(folder, key, log)
    if reused is not None:
        return reused
    e0s = manifest["e0s_eV"]
    run_key = sha256_text(json.dumps([asdict(preset), manifest["data_hash"]], sort_keys=True))
    work_dir = folder.work / run_key
    log(
        f"mace_potential [{partition}]: {manifest['sizes']['train']} train / "
        f"{manifest['sizes']['val']} val configurations per element; E0s {e0s}; on {preset.device}"
    )
    run = train_mace(preset, data_dir / "train.xyz", data_dir / "val.xyz", e0s, work_dir, log)
    # The only time the test set is touched: after training, with the model MACE selected on val.
    evaluation = evaluate_potential(
        run.model,
        [data_dir / "val.xyz", data_dir / "test.xyz"],
        work_dir / "eval",
        e0s,
        log,
        preset.eval_batch_size,
        preset.device,
    )
    per = None
    if preset.per_element:
        per = train_per_element(preset, data_dir, e0s, work_dir / "per_element", log)
    metrics = evaluation.metrics
    epochs_run = run.epochs_run
    best_epoch = min(run.epochs, key=lambda h: h["loss"])["epoch"] if run.epochs else None

    staging = folder.stage()
    folder.copy_in(run.model, f"{MODEL_NAME}.model")
    if run.compiled is not None:
        folder.copy_in(run.compiled, f"{MODEL_NAME}_compiled.model")
    folder.copy_in(run.log_path, "mace_run_train.log")
    for element, path in (per.models if per else {}).items():
        folder.copy_in(path, model_file(element))
    folder.write_json("e0s.json", {"e0s_eV": e0s, "method": manifest["e0s_method"]})
    folder.write_json(
        "metrics.json",
        {
            **metrics,
            "units": {"energy": "meV/atom", "forces": "meV/Å", "stress": "GPa"},
            "epochs_run": epochs_run,
            "best_epoch": best_epoch,  # lowest validation loss MACE printed (stage two reweights it)
            "stop_reason": "early stop (validation loss patience)"
            if epochs_run < preset.epochs
            else "max epochs",
            "train_seconds": round(run.seconds, 1),
            "eval_seconds": round(evaluation.seconds, 1),
            **(
                {
                    "per_element": per.metrics,
                    "per_element_epochs_run": per.epochs_run,
                    "per_element_seconds": round(per.seconds, 1),
                }
                if per
                else {}
            ),
            "caveat": _caveat(manifest),
        },
    )
    folder.write_rows("history.csv", run.history)
    folder.write_csv("predictions.csv", PREDICTION_HEADER, _prediction_rows(evaluation.predictions))
    if per:
        folder.write_csv("predictions_per_element.csv", PREDICTION_HEADER, _prediction_rows(per.predictions))
    preds = evaluation.predictions
    plots = [
        parity_plot(parity_series(preds, "energy"), "energy (eV/atom)", staging / "parity_energy.png"),
        parity_plot(parity_series(preds, "forces"), "force component (eV/Å)", staging / "parity_forces.png"),
        history_plot(run.history, staging / "learning_curve.png"),
    ]
    notes = list(run.notes)
    if run.resumed:
        notes.append("resumed from MACE's latest checkpoint (--restart_latest)")
    if run.compiled is None:
        notes.append("MACE wrote no TorchScript export; the calculator needs one")
    dropped = len(manifest.get("dropped", []))
    if manifest.get("dataset"):
        notes.append(_caveat(manifest))
    if dropped:
        notes.append(
            f"{dropped} mlearn records kept out of training (duplicates, test copies, test twins; "
            "see data manifest)"
        )
    record = build_run_record(
        phase="phase3",
        algorithm="mace",
        partition=partition,
        command=command,
        overrides=overrides or {},
        output_dir=folder.record_fields()["output_dir"],
        metrics={"val": metrics.get("val"), "test": metrics.get("test")},
        notes=notes,
        data_hash=manifest["data_hash"],
        split_hash=manifest["split_hash"],
        seed=preset.seed,
        seconds=time.perf_counter() - start,
        dagster_run_id=dagster_run_id,
        extra={
            "mace_command": run.command,
            "preset": asdict(preset),
            "sizes": manifest["sizes"],
            "e0s_eV": e0s,
            "train_seconds": round(run.seconds, 1),
            "plots": sorted(p.name for p in plots),
            "model_files": sorted(p.name for p in staging.glob("*.model")),
            "input_key": key,
            "device": preset.device,
            **folder.record_fields(),
        },
        provenance=provenance,
        preset=preset,
    )
    candidate = folder.commit(record)
    shutil.rmtree(work_dir, ignore_errors=True)  # checkpoints only serve an interrupted run
    run = MaceRun(
        model=candidate / f"{MODEL_NAME}.model",
        compiled=candidate / f"{MODEL_NAME}_compiled.model" if run.compiled is not None else None,
        history=run.history,
        command=run.command,
        seconds=run.seconds,
        log_path=candidate / "mace_run_train.log",
        resumed=run.resumed,
        notes=run.notes,
    )
    output = ModelOutput(candidate, metrics, record, run, folder=folder)
    if promote and not output_tag:
        conclude(output, [], by="direct call")
    return output


def _caveat(manifest: dict) -> str:
    """What the metrics may be compared with, by the training data's source: the mlearn benchmark
    (``data.mlearn``), or a registered data set's frames (``data.potential_data``: its manifest names
    the data set)."""
    capped = manifest["caps"]["max_train_per_element"]
    dataset = manifest.get("dataset")
    if dataset:
        return (
            f"data set {dataset}'s own frames, split by its split manifest ({dataset}/splits); "
            "no published reference numbers to compare with"
            + (
                f"; at most {capped} training frames per element or chemical system at this level"
                if capped
                else ""
            )
        )
    if capped:
        return "smoke/lite train on capped subsets and are not comparable to published numbers"
    return (
        "official mlearn test set; training set = mlearn configs minus test copies and "
        "their symmetry-equivalent twins"
    )


def _reused(folder: ModelFolder, key: str, log: Callable[[str], None]) -> ModelOutput | None:
    import polars as pl

    from matassets.training import incremental

    files = (f"{MODEL_NAME}.model", "metrics.json", "history.csv", "mace_run_train.log")
    record = folder.reusable(key, files)
    if record is None:
        return None
    final_dir = folder.candidate if folder.output_tag else folder.final
    compiled = final_dir / f"{MODEL_NAME}_compiled.model"
    run = MaceRun(
        model=final_dir / files[0],
        compiled=compiled if compiled.exists() else None,
        history=pl.read_csv(final_dir / "history.csv").to_dicts(),
        command=record["mace_command"],
        seconds=record["train_seconds"],
        log_path=final_dir / "mace_run_train.log",
    )
    note = incremental.skipped_note(final_dir, record)
    log(f"mace_potential [{record['partition']}]: {note}")
    metrics = json.loads((final_dir / "metrics.json").read_text(encoding="utf-8"))
    return ModelOutput(final_dir, metrics, record, run, skipped=note, folder=folder, status="current")
