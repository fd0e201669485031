"""Whether the best round replaces the asset's current version, and the atomic copy that does it.

The best round is promoted only if its validation score is lower than the current version's on the
same split (or the current version is missing or was trained on another split); the copy is atomic
(``io.replace_dir``) and its run record names the session and round it came from.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from matassets.automation.tuning.outcomes import Outcome, validation_score
from matassets.io import replace_dir, write_json


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


def promote(candidate: Path, final: Path, session: str, round_: int) -> Path:
    """Copy a round's model folder over the asset's current version, atomically."""
    staging = final.parent / f".promote-{session.replace('/', '_')}"
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(candidate, staging)
    record_path = staging / "run_record.json"
    if record_path.exists():
        record = json.loads(record_path.read_text())
        record.update(
            output_dir=str(final),
            promoted_from=str(candidate),
            tuning_session=session,
            tuning_round=round_,
        )
        write_json(record_path, record)
    return replace_dir(staging, final)
