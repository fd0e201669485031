"""Metrics, always beside a baseline: the mean predictor for regression, the majority class for
classification."""

from __future__ import annotations

import numpy as np


def regression_metrics(y: np.ndarray, pred: np.ndarray, train_mean: float) -> dict[str, float]:
    """MAE, RMSE, R², MaxAE, the mean-predictor MAE (``baseline_mad``) and MAD:MAE."""
    y, pred = np.asarray(y, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    if y.size == 0:
        return {"n": 0}
    err = pred - y
    mae = float(np.mean(np.abs(err)))
    mad = float(np.mean(np.abs(y - train_mean)))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return {
        "n": int(y.size),
        "mae": mae,
        "rmse": float(np.sqrt(np.mean(err**2))),
        "r2": 1.0 - float(np.sum(err**2)) / ss_tot if ss_tot > 0 else float("nan"),
        "max_ae": float(np.max(np.abs(err))),
        "baseline_mad": mad,
        "mad_mae_ratio": mad / mae if mae > 0 else float("inf"),
    }


def classification_metrics(y: np.ndarray, prob: np.ndarray, train_majority: int) -> dict[str, object]:
    """Accuracy, balanced accuracy, F1, ROC-AUC, confusion matrix, and the majority-class accuracy."""
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        confusion_matrix,
        f1_score,
        roc_auc_score,
    )

    y = np.asarray(y).astype(int)
    if y.size == 0:
        return {"n": 0}
    label = (np.asarray(prob) >= 0.5).astype(int)
    return {
        "n": int(y.size),
        "accuracy": float(accuracy_score(y, label)),
        "balanced_accuracy": float(balanced_accuracy_score(y, label)),
        "f1": float(f1_score(y, label, zero_division=0)),
        "roc_auc": float(roc_auc_score(y, prob)) if len(set(y)) == 2 else float("nan"),
        "confusion_matrix": confusion_matrix(y, label, labels=[0, 1]).tolist(),
        "baseline_accuracy": float(np.mean(y == train_majority)),
    }
