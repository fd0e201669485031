"""Binary classification helpers shared by the topological classifiers (random forest and TopoGNN).

The decision threshold is chosen on the VALIDATION split (the one that maximises balanced accuracy);
the test split is then scored once at that threshold. Metrics come from
``training.metrics.classification_metrics`` and always carry the majority-class baseline.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from matassets.io import write_json
from matassets.training.metrics import classification_metrics


def choose_threshold(y: np.ndarray, prob: np.ndarray) -> float:
    """The probability threshold with the best balanced accuracy on (y, prob); 0.5 if undecidable.

    Candidates are the midpoints between consecutive distinct probabilities; ties go to the
    candidate closest to 0.5.
    """
    y, prob = np.asarray(y).astype(int), np.asarray(prob, dtype=np.float64)
    if y.size == 0 or len(set(y.tolist())) < 2:
        return 0.5
    values = np.unique(prob)
    candidates = np.concatenate([[0.5], (values[1:] + values[:-1]) / 2.0]) if values.size > 1 else [0.5]
    positives, negatives = max(int(y.sum()), 1), max(int((1 - y).sum()), 1)
    best, best_score = 0.5, -1.0
    for t in sorted(candidates, key=lambda c: abs(c - 0.5)):
        pred = prob >= t
        score = 0.5 * (np.sum(pred & (y == 1)) / positives + np.sum(~pred & (y == 0)) / negatives)
        if score > best_score + 1e-12:
            best, best_score = float(t), float(score)
    return best


def metrics_at(y: np.ndarray, prob: np.ndarray, threshold: float, train_majority: int) -> dict:
    """``classification_metrics`` with the decision made at ``threshold`` instead of 0.5.

    The probabilities are shifted by ``0.5 - threshold`` (labels become ``prob >= threshold``);
    ROC-AUC is unchanged by the shift. The threshold is recorded in the result.
    """
    shifted = np.asarray(prob, dtype=np.float64) + (0.5 - threshold)
    out = classification_metrics(np.asarray(y), shifted, train_majority)
    out["threshold"] = float(threshold)
    return out


def read_predictions(path: Path, task: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``predictions.csv`` of a graph model → {split: (y, prob)} for one task (labelled rows)."""
    rows: dict[str, tuple[list[float], list[float]]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            y = float(row[f"{task}_true"])
            if np.isnan(y):
                continue
            ys, ps = rows.setdefault(row["split"], ([], []))
            ys.append(y)
            ps.append(float(row[f"{task}_pred"]))
    return {k: (np.array(v[0]), np.array(v[1])) for k, v in rows.items()}


def threshold_report(model_dir: Path, task: str, train_majority: int) -> dict:
    """For a trained binary graph model: choose the threshold on validation, score val and test at it.

    Writes ``threshold.json``, ``roc.png`` and ``confusion_threshold.png`` into ``model_dir``
    (``metrics.json`` keeps the trainer's 0.5-threshold numbers).
    """
    from matassets.reports.plots import confusion_plot, roc_plot

    model_dir = Path(model_dir)
    data = read_predictions(model_dir / "predictions.csv", task)
    threshold = choose_threshold(*data["val"])
    report = {
        "task": task,
        "threshold": threshold,
        "chosen_on": "val (max balanced accuracy)",
        **{name: metrics_at(*data[name], threshold, train_majority) for name in ("val", "test")},
    }
    write_json(model_dir / "threshold.json", report)
    roc_plot({k: data[k] for k in ("val", "test")}, model_dir / "roc.png")
    confusion_plot(
        report["test"]["confusion_matrix"], ["trivial", "topological"], model_dir / "confusion_threshold.png"
    )
    return report
