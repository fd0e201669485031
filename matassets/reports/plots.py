"""Every PNG plot of the project, for the UI and the model folders: parity, learning curve, confusion
matrix, ROC, MACE's validation history, the leaderboard, an ensemble's calibration and size curve,
screening histograms, the elements of a training split on a periodic table."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from matassets.io import atomic_write
from matassets.reports.tables import coverage, headline_metric


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


def axis_scale(values: list[float]) -> str:
    """Log scale when every finite value is positive; linear otherwise (a learned-task-weight loss
    goes negative, and a log axis would silently drop those epochs)."""
    finite = [v for v in values if np.isfinite(v)]
    return "log" if finite and min(finite) > 0 else "linear"


def learning_curve(history: list[dict], path: Path, score_label: str = "validation score (MAE/MAD)") -> Path:
    """Training loss (top) and validation score (bottom) per epoch, each on its own axis, the best
    epoch marked."""
    plt = _figure()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 5), sharex=True)
    epochs = [h["epoch"] for h in history]
    for ax, key, label, color in (
        (top, "train_loss", "train loss", "C0"),
        (bottom, "val_score", score_label, "C1"),
    ):
        values = [h[key] for h in history]
        ax.plot(epochs, values, color=color, marker="." if len(epochs) < 30 else None)
        ax.set_yscale(axis_scale(values))
        ax.set_ylabel(label, fontsize=8)
    if history:
        best = min(history, key=lambda h: h["val_score"])
        for ax in (top, bottom):
            ax.axvline(best["epoch"], color="grey", ls=":")
        bottom.text(best["epoch"], bottom.get_ylim()[1], f" best epoch {best['epoch']}", va="top", fontsize=8)
    bottom.set_xlabel("epoch")
    top.set_title("learning curve")
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


def roc_plot(series: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> Path:
    """ROC curve per split (name → (y, prob)) with its AUC, and the chance diagonal."""
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _figure()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="chance")
    for name, (y, prob) in series.items():
        y = np.asarray(y).astype(int)
        if len(set(y.tolist())) < 2:
            continue
        fpr, tpr, _ = roc_curve(y, prob)
        ax.plot(fpr, tpr, label=f"{name} (n={y.size}, AUC {roc_auc_score(y, prob):.3f})")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("ROC")
    return _save(fig, path)


def history_plot(history: list[dict], path: Path) -> Path:
    """Validation loss and energy/force MAE per epoch, as MACE printed them (log scale)."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 4))
    rows = [h for h in history if h.get("epoch", -1) >= 0]
    epochs = [h["epoch"] for h in rows]
    for key, label in (
        ("loss", "validation loss"),
        ("mae_e_per_atom", "val energy MAE (meV/atom)"),
        ("mae_f", "val force MAE (meV/Å)"),
    ):
        values = [h.get(key) for h in rows]
        if any(v is not None for v in values):
            ax.plot(epochs, values, marker="o", ms=3, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.legend(fontsize=8)
    ax.set_title("MACE validation errors per epoch")
    return _save(fig, path)


def leaderboard_plot(rows: list[dict], path: Path) -> Path:
    """Horizontal bars: relative error (test metric vs its baseline, 1 = baseline) per model."""
    plt = _figure()
    shown = [r for r in rows if r["relative_error"] is not None]
    fig, ax = plt.subplots(figsize=(7, max(2.0, 0.3 * len(shown) + 1)))
    labels = [f"{r['property']} · {r['asset']} [{r['partition']}]" for r in shown]
    values = [r["relative_error"] for r in shown]
    colors = ["tab:green" if r["best"] else "tab:blue" for r in shown]
    ax.barh(range(len(shown)), values, color=colors)
    ax.set_yticks(range(len(shown)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.axvline(1.0, color="grey", ls="--", lw=1, label="baseline")
    ax.set_xlabel("test error / baseline (MAE / mean predictor; (1 - bal. acc.) / 0.5); lower is better")
    ax.set_title("model leaderboard (green: best per property and partition)")
    if not shown:
        ax.text(0.5, 0.5, "no trained models yet", ha="center", va="center", transform=ax.transAxes)
    ax.legend(loc="lower right", fontsize=7)
    return _save(fig, path)


def calibration_plot(
    series: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], expected: np.ndarray, label: str, path: Path
) -> Path:
    """An ensemble's calibration per split (name → (|error|, predicted std, observed fractions on
    ``expected``)). Left: observed against expected fraction of errors inside the centred Gaussian
    interval, the gap to the diagonal (the miscalibration area) shaded. Right: |error| against the
    predicted standard deviation, with the 1σ and 2σ lines and the fraction of errors under each."""
    plt = _figure()
    fig, (curve, scatter) = plt.subplots(1, 2, figsize=(10, 4.6))
    curve.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="calibrated")
    top = 0.0
    for color, (name, (error, std, observed)) in zip(("C0", "C1", "C2"), series.items(), strict=False):
        if not len(error):
            continue
        gap = np.abs(observed - expected)
        area = float(np.sum((gap[1:] + gap[:-1]) / 2 * np.diff(expected)))
        curve.plot(expected, observed, color=color, label=f"{name} (area {area:.3f})")
        curve.fill_between(expected, expected, observed, color=color, alpha=0.15)
        inside = [float(np.mean(error <= k * std)) for k in (1, 2)]
        scatter.scatter(
            std, error, s=8, alpha=0.5, color=color,
            label=f"{name} (n={len(error)}; {coverage(*inside)})",
        )  # fmt: skip
        top = max(top, float(np.max(std)))
    curve.set_xlabel("expected fraction inside the Gaussian interval")
    curve.set_ylabel("observed fraction of errors inside")
    curve.set_xlim(0, 1)
    curve.set_ylim(0, 1)
    curve.legend(loc="upper left", fontsize=8)
    curve.set_title("calibration (shaded: miscalibration area)", fontsize=10)
    line = np.linspace(0, 1.05 * top or 1.0, 2)  # over the spreads predicted
    scatter.plot(line, line, color="grey", lw=1, label="|error| = σ")
    scatter.plot(
        line,
        2 * line,
        color="grey",
        lw=1,
        ls="--",
        label="|error| = 2σ (0.68 / 0.95 under σ / 2σ if calibrated)",
    )
    scatter.set_xlabel(f"predicted spread σ (member std), {label}")
    scatter.set_ylabel(f"|error| of the mean, {label}")
    scatter.legend(loc="upper left", fontsize=7)
    scatter.set_title("error against predicted spread", fontsize=10)
    return _save(fig, path)


def size_curve_plot(curve: list[dict], labels: dict[str, str], path: Path) -> Path:
    """An ensemble's ``by_size`` curve (training.ensemble.size_curve), one panel per task (task →
    axis label): the validation and test metric of the mean of the first k members (MAE, or a
    classifier's balanced accuracy) against the minutes those k members took to train, each point
    labelled with k."""
    plt = _figure()
    fig, axes = plt.subplots(1, len(labels), figsize=(5.2 * len(labels), 4), squeeze=False)
    minutes = [c["train_seconds"] / 60 for c in curve]
    for ax, (task, label) in zip(axes[0], labels.items(), strict=True):
        key = headline_metric(curve[0]["val"][task])
        for split in ("val", "test"):
            values = [c[split][task].get(key, np.nan) for c in curve]
            ax.plot(minutes, values, marker="o", label=f"{split} ({values[0]:.4g} → {values[-1]:.4g})")
            for c, x, v in zip(curve, minutes, values, strict=True):
                ax.annotate(str(c["members"]), (x, v), textcoords="offset points", xytext=(0, 6), fontsize=7)
        ax.set_xlabel("training time of the first k members (min)")
        ax.set_ylabel(f"{key.replace('_', ' ').replace('mae', 'MAE')} of their mean, {label}")
        ax.legend(fontsize=8)
        ax.set_title(f"{task}: what each member buys (k labelled)", fontsize=10)
    return _save(fig, path)


def screening_histogram(values: dict[str, tuple[np.ndarray, str]], path: Path) -> Path:
    """Screening predictions: one histogram per property (name → (predicted means, unit))."""
    plt = _figure()
    fig, axes = plt.subplots(1, max(len(values), 1), figsize=(4.6 * max(len(values), 1), 3.6), squeeze=False)
    for ax, (name, (mean, unit)) in zip(axes[0], values.items(), strict=False):
        ax.hist(mean, bins=min(40, max(len(mean), 1)), color="C0")
        ax.set_xlabel(f"predicted {name}" + (f" ({unit})" if unit else ""))
        ax.set_ylabel("candidates")
        ax.set_title(f"{len(mean)} candidates", fontsize=10)
    return _save(fig, path)


def _table_cell(z: int) -> tuple[float, int]:
    """(row, column) of element ``z`` in the usual 18-column layout, lanthanides and actinides in
    two rows of their own under it (rows 8.4 and 9.4, from column 3)."""
    from pymatgen.core import Element

    if 57 <= z <= 71 or 89 <= z <= 103:
        return (8.4 if z <= 71 else 9.4), 3 + z - (57 if z <= 71 else 89)
    element = Element.from_Z(z)
    return element.row, element.group


def element_table_plot(counts: dict[str, int], marked: set[str], title: str, path: Path) -> Path:
    """A periodic table: each element of ``counts`` shaded by its count (log scale) and labelled
    with it, grey where the count is 0; the ``marked`` elements framed in red."""
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Rectangle
    from pymatgen.core import Element

    plt = _figure()
    fig, ax = plt.subplots(figsize=(11, 6.2))
    cmap = plt.get_cmap("viridis")
    norm = LogNorm(vmin=1, vmax=max([*counts.values(), 2]))
    for z in range(1, 104):
        symbol = Element.from_Z(z).symbol
        row, column = _table_cell(z)
        n = counts.get(symbol, 0)
        face = cmap(norm(n)) if n else "#eeeeee"
        edge, width = ("red", 2.2) if symbol in marked else ("white", 1)
        ax.add_patch(Rectangle((column - 1, -row), 0.95, 0.95, facecolor=face, edgecolor=edge, lw=width))
        ink = "white" if n and norm(n) < 0.6 else "black"
        ax.text(column - 0.52, -row + 0.6, symbol, ha="center", va="center", fontsize=8.5, color=ink)
        if n:
            ax.text(column - 0.52, -row + 0.25, str(n), ha="center", va="center", fontsize=6, color=ink)
    ax.set_xlim(-0.2, 18.2)
    ax.set_ylim(-9.6, 0.1)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.6, label="crystals")
    ax.set_title(title, fontsize=10)
    return _save(fig, path)
