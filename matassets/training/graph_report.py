"""What a graph model's folder holds besides its weights: predictions, plots, anomaly notes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from matassets.data import schema
from matassets.data.tables import read_table
from matassets.paths import Layout
from matassets.reports.plots import learning_curve, parity_plot
from matassets.training.trainer import GraphSplit


def anomalies(fit, layout: Layout, partition: str) -> list[str]:
    notes = [fit.stop_reason]
    if fit.resumed_from_epoch:
        notes.append(f"resumed from a checkpoint at epoch {fit.resumed_from_epoch}")
    quarantine = layout.quarantine(partition)
    if quarantine.exists():
        n = read_table(quarantine, "structures", partition).height
        if n:
            notes.append(f"{n} quarantined entries in this partition's data (see quarantine.parquet)")
    return notes


def elements_plot(folder: Path, title: str, counts: dict[str, dict[str, int]]) -> Path:
    """``training_elements.png``: the training split's crystals per element on a periodic table,
    the elements only validation or test crystals hold framed in red (their errors are
    extrapolations, part of the test MAE)."""
    from matassets.reports.plots import element_table_plot

    train = counts["train"]
    elsewhere = {e for name, held in counts.items() if name != "train" for e in held} - set(train)
    return element_table_plot(
        train,
        elsewhere,
        f"{title}: training crystals per element; grey: none; red: in validation or test only "
        f"({len(elsewhere)})",
        folder / "training_elements.png",
    )


def prediction_rows(
    splits: dict[str, GraphSplit],
    outputs: dict[str, np.ndarray],
    tasks: list[str],
    spreads: dict[str, np.ndarray] | None = None,
) -> list[dict]:
    """One row per crystal: true and predicted value per task, and with ``spreads`` (an ensemble's
    member standard deviation, ``training.ensemble``) a ``<task>_std`` column."""
    rows = []
    for name, split in splits.items():
        for k, idx in enumerate(split.index):
            row = {"id": split.store.ids[idx], "split": name}
            for t, task in enumerate(tasks):
                row[f"{task}_true"] = float(split.y[k, t])
                row[f"{task}_pred"] = float(outputs[name][k, t])
                if spreads:
                    row[f"{task}_std"] = float(spreads[name][k, t])
            rows.append(row)
    return rows


def plots(folder: Path, tasks: list[str], splits, outputs, fit, kind: str) -> list[Path]:
    label = "validation 1 - balanced accuracy" if kind == "binary" else "validation score (MAE/MAD)"
    made = [learning_curve(fit.history, folder / "learning_curve.png", score_label=label)]
    if kind == "binary":  # test-split confusion matrix at the 0.5 probability threshold
        from matassets.reports.plots import confusion_plot

        for t, task in enumerate(tasks):
            y, prob = splits["test"].y[:, t], outputs["test"][:, t]
            y, pred = y[~np.isnan(y)].astype(int), (prob[~np.isnan(y)] >= 0.5).astype(int)
            matrix = [[int(np.sum((y == a) & (pred == b))) for b in (0, 1)] for a in (0, 1)]
            name = "confusion.png" if len(tasks) == 1 else f"confusion_{task}.png"
            made.append(confusion_plot(matrix, ["0", "1"], folder / name))
    if kind != "regression":
        return made
    for t, task in enumerate(tasks):
        series = {}
        for name in ("val", "test"):
            mask = ~np.isnan(splits[name].y[:, t])
            series[name] = (splits[name].y[mask, t], outputs[name][mask, t])
        unit = schema.TARGETS[task].unit
        name = "parity.png" if len(tasks) == 1 else f"parity_{task}.png"
        made.append(parity_plot(series, f"{task} ({unit})" if unit else task, folder / name))
    return made
