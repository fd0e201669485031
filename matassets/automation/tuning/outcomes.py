"""What a finished round left behind, read for the rules: validation (and training) scores only.

The score is the mean over tasks of MAE / MAD for regression (unit-free, 1.0 = the mean predictor),
1 - balanced accuracy for classification, energy/force MAE over their trivial baselines for MACE;
lower is better. :func:`validation_score` raises when handed metrics without a ``val`` block, and
:func:`read_outcome` drops the ``test`` block before anything else sees it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Outcome:
    """What one finished round tells the rules: validation and training scores, never test."""

    ok: bool
    val_score: float | None = None
    train_score: float | None = None
    best_epoch: int | None = None
    epochs_run: int | None = None
    stop_reason: str = ""
    split_hash: str | None = None
    metric: str = ""
    note: str = ""


def _task_score(entry: Mapping[str, object]) -> float | None:
    if "n" in entry and not entry.get("n"):
        return None
    if "balanced_accuracy" in entry:
        return 1.0 - float(entry["balanced_accuracy"])  # type: ignore[arg-type]
    mae, mad = entry.get("mae"), entry.get("baseline_mad")
    if mae is not None and mad and float(mad) > 0:  # type: ignore[arg-type]
        return float(mae) / float(mad)  # type: ignore[arg-type]
    # "<quantity>_mae_<unit>" beside "<quantity>_baseline_mae_<unit>" (MACE: energy, forces)
    ratios = []
    for key, value in entry.items():
        base = entry.get(key.replace("_mae", "_baseline_mae", 1)) if "_mae" in key else None
        if "baseline" not in key and isinstance(value, int | float) and isinstance(base, int | float):
            if base > 0:
                ratios.append(float(value) / float(base))
    return sum(ratios) / len(ratios) if ratios else None


def split_score(block: Mapping[str, object]) -> tuple[float, str]:
    """Score of one split's metrics block ``{task: {...}}`` (lower is better) and its description."""
    if "score" in block and isinstance(block["score"], int | float):
        return float(block["score"]), "val score (lower is better)"
    scores, kinds = [], set()
    if isinstance(block.get("all"), Mapping):  # per-group entries plus their total: the total only
        block = {"all": block["all"]}
    for entry in block.values():
        if isinstance(entry, Mapping):
            s = _task_score(entry)
            if s is not None:
                scores.append(s)
                kinds.add(
                    "1 - balanced accuracy"
                    if "balanced_accuracy" in entry
                    else "MAE/MAD"
                    if "baseline_mad" in entry
                    else "MAE/baseline MAE"
                )
    if not scores:
        return math.nan, ""
    return sum(scores) / len(scores), "val " + " and ".join(sorted(kinds)) + " (mean over tasks)"


def validation_score(metrics: Mapping[str, object]) -> tuple[float, str]:
    """The tuning score of a model's metrics, from its ``val`` block only."""
    if "val" not in metrics or not isinstance(metrics["val"], Mapping):
        raise ValueError(
            "tuning reads validation metrics only, and these have no 'val' block "
            f"(keys: {sorted(metrics)}); the test set never steers tuning"
        )
    return split_score(metrics["val"])


def read_outcome(model_dir: Path, return_code: int) -> Outcome:
    """Read a finished round's folder: train/val metrics and the learning-curve facts, not test."""
    path = Path(model_dir) / "metrics.json"
    if not path.exists():
        return Outcome(ok=False, note=f"no metrics.json in {model_dir}")
    raw = json.loads(path.read_text())
    visible = {k: v for k, v in raw.items() if k != "test"}  # the test block never reaches the rules
    val, metric = validation_score(visible)
    train = split_score(visible["train"])[0] if isinstance(visible.get("train"), Mapping) else None
    record_path = Path(model_dir) / "run_record.json"
    split_hash = json.loads(record_path.read_text()).get("split_hash") if record_path.exists() else None
    finite = math.isfinite(val)
    return Outcome(
        ok=return_code == 0 and finite,
        val_score=val if finite else None,
        train_score=train if train is not None and math.isfinite(train) else None,
        best_epoch=visible.get("best_epoch"),
        epochs_run=visible.get("epochs_run"),
        stop_reason=str(visible.get("stop_reason", "")),
        split_hash=split_hash,
        metric=metric,
        note="" if return_code == 0 else f"return code {return_code}",
    )
