"""PNG plots for the UI and the model folder: parity, learning curve, confusion matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from matassets.io import atomic_write


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    plt = _figure()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return path


def parity_plot(series: dict[str, tuple[np.ndarray, np.ndarray]], label: str, path: Path) -> Path:
    """Predicted vs true for each split in ``series`` (name → (y, pred)), with MAE in the legend."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5, 5))
    values = [v for y, p in series.values() for v in (y, p) if len(v)]
    low, high = (min(map(np.min, values)), max(map(np.max, values))) if values else (0, 1)
    ax.plot([low, high], [low, high], color="grey", lw=1, ls="--")
    for name, (y, p) in series.items():
        if len(y):
            mae = float(np.mean(np.abs(np.asarray(p) - np.asarray(y))))
            ax.scatter(y, p, s=8, alpha=0.6, label=f"{name} (n={len(y)}, MAE {mae:.3g})")
    ax.set_xlabel(f"true {label}")
    ax.set_ylabel(f"predicted {label}")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"parity: {label}")
    return _save(fig, path)


def learning_curve(history: list[dict], path: Path, score_label: str = "validation score (MAE/MAD)") -> Path:
    """Training loss and validation score per epoch (log scale), best epoch marked."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_loss"] for h in history], label="train loss")
    ax.plot(epochs, [h["val_score"] for h in history], label=score_label)
    if history:
        best = min(history, key=lambda h: h["val_score"])
        ax.axvline(best["epoch"], color="grey", ls=":", label=f"best epoch {best['epoch']}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.legend(fontsize=8)
    ax.set_title("learning curve")
    return _save(fig, path)


def confusion_plot(matrix: list[list[int]], labels: list[str], path: Path) -> Path:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(matrix, cmap="Blues")
    top = max((v for row in matrix for v in row), default=0)
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            color = "white" if v > top / 2 else "black"  # readable on dark and light cells
            ax.text(j, i, str(v), ha="center", va="center", color=color)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return _save(fig, path)
