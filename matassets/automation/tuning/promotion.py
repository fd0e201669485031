"""Whether the best round replaces the asset's current version, and the atomic copy that does it.

The best round is promoted only if its validation score is lower than the current version's on the
same split (or the current version is missing or was trained on another split) and it passes its
blocking checks; the copy is the promotion of every model (``training.model_folder.promote``: atomic,
hash-checked, a line in the model's history) and its run record names the session and round.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from matassets.automation.tuning.outcomes import Outcome, validation_score
from matassets.paths import Layout


@dataclass
class Promotion:
    asset: str
    partition: str
    promoted: bool
    reason: str
    round: int | None
    val_score: float | None
    source: str
    model_dir: str


def promotion_decision(
    best: Outcome | None, current_metrics: Mapping | None, current_split_hash: str | None
) -> tuple[bool, str]:
    """Whether the best round replaces the asset's current version (validation only)."""
    if best is None or not best.ok or best.val_score is None:
        return False, "no successful round"
    if current_metrics is None:
        return True, "the asset had no current version"
    current, _ = validation_score({k: v for k, v in current_metrics.items() if k != "test"})
    if best.split_hash and current_split_hash and best.split_hash != current_split_hash:
        return True, (
            f"the current version was trained on another split ({current_split_hash}); "
            f"the rounds used the current one ({best.split_hash})"
        )
    if not math.isfinite(current) or best.val_score < current:
        return True, f"validation score {best.val_score:.4g} beats the current {current:.4g}"
    return False, f"validation score {best.val_score:.4g} does not beat the current {current:.4g}"


def promote(
    layout: Layout, asset: str, partition: str, candidate: Path, session: str, round_: int, reason: str
) -> Path:
    """Copy a round's model folder over the asset's current version (``training.model_folder.promote``,
    the one promotion of every model), after its blocking checks: a round that does not beat its own
    baseline is refused (``ValueError``), however it compares with the current version."""
    from matassets.training.gates import beats_baseline, blocking_failures
    from matassets.training.model_folder import promote as promote_folder

    metrics = json.loads((Path(candidate) / "metrics.json").read_text(encoding="utf-8"))
    gates = [beats_baseline(metrics)]
    failed = blocking_failures(gates)
    if failed:
        raise ValueError("; ".join(f"{g.name} failed: {g.description}" for g in failed))
    promote_folder(
        layout,
        asset,
        partition,
        candidate,
        by=f"tuning session {session}",
        reason=reason,
        gates=gates,
        keep_candidate=True,
        record_updates={"tuning_session": session, "tuning_round": round_},
    )
    return layout.model_dir(asset, partition)
