"""Adaptive tuning rounds: the rules as pure functions, the session state and the summary files.

No Dagster here. A session tunes one or more model assets of one partition ("stage"), one target
after another; each round of a target is one training run whose model goes to a candidate folder
(``models/<asset>/tuning/<session>/round_<n>/``), never over the asset's current version. The Dagster
side (``matassets.assets.tuning``, ``matassets.sensors``) and ``matassets tune`` launch the rounds;
both call :class:`TuningSession` so the two paths follow the same rules and write the same files.

The rules (docs/automation.md has the reasoning):

* Everything is judged on the VALIDATION score only: the mean over tasks of MAE / MAD for
  regression (unit-free, 1.0 = the mean predictor), 1 - balanced accuracy for classification; lower
  is better. :func:`validation_score` raises when handed metrics without a ``val`` block, and the
  round reader drops the ``test`` block before anything else sees it.
* Round 1 trains the partition's preset row unchanged (the baseline). With ``measure_noise`` round 2
  repeats round 1 with another training seed (same split): the relative difference of the two is
  the measured seed noise.
* Noise = max(``rel_floor`` (2 %), measured seed noise). A round "improves" only when it beats the
  best earlier score by more than the noise.
* The next round's parameters come from one *move* applied to a parent's parameters:
  ``budget_up`` (epochs or trees ×2, the successive-halving budget step with η = 2),
  ``lr_up`` / ``lr_down`` (×2 / ×0.5), ``capacity_up`` / ``capacity_down`` (hidden width ×1.5 / ÷1.5;
  forest depth ±4), ``regularise_up`` / ``regularise_down`` (weight decay ×4 / ÷4 and dropout ±0.1;
  forest min leaf ±2). Every knob is clipped to its bounds; a move that changes nothing is skipped.
* Which move: if the last round improved beyond the noise, repeat its move from it (keep going);
  otherwise take the first move not yet tried from the best round, in the order its learning curve
  suggests: still improving at the end of its budget (best epoch in the last 20 % of the epochs run,
  no early stop) → budget first; overfitting (validation score > 1.5 × training score) →
  regularisation first; underfitting (validation < 1.15 × training) → capacity first; otherwise
  (plateau) → a lower learning rate first.
* A failed round (non-zero return code, no metric, non-finite score) is retried from the best
  parameters so far with the learning rate halved; two failures in a row stop the target.
* Stop at the round limit, after ``patience`` rounds in a row without an improvement beyond the
  noise (converged), when no untried move is left, or when the data/split changed mid-session.
* At the end the best round replaces the asset's current version only if its validation score is
  lower than the current version's on the same split (or the current version is missing or was
  trained on another split); the copy is atomic (``io.replace_dir``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Literal

from matassets import levels
from matassets.io import atomic_write, replace_dir, write_json
from matassets.paths import Layout

PHASES: tuple[str, ...] = ("phase1", "phase2", "phase3", "phase4")
Role = Literal["lr", "budget", "capacity", "regularisation"]

SUMMARY_COLUMNS: tuple[str, ...] = (
    "session_id",
    "phase",
    "algorithm",
    "asset",
    "stage",
    "round",
    "run_id",
    "return_code",
    "duration_sec",
    "metric",
    "metric_mode",
    "score",
    "prev_score",
    "relative_improvement",
    "noise",
    "move",
    "auto_tune_reason",
    "params_in",
    "params_out",
    "model_dir",
    "manifest_path",
    "promoted",
    "command",
)


# --- knobs and moves ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Knob:
    """One tunable preset field: how a move changes it, and its bounds."""

    name: str
    role: Role
    mode: Literal["mul", "add", "irreps"]
    # factor (mul; irreps: of every multiplicity) or increment (add) of one move up; a move down
    # divides / subtracts
    step: float
    lo: float
    hi: float
    integer: bool = False
    multiple: int = 1  # integers are rounded to a multiple of this (layer widths)

    def moved(self, value, direction: int):
        if self.mode == "irreps":  # e3nn irreps "64x0e+32x1o": scale every multiplicity
            factor = self.step if direction > 0 else 1.0 / self.step
            parts = []
            for term in str(value).split("+"):
                mul, _, ir = term.strip().partition("x")
                scaled = min(self.hi, max(self.lo, round(int(mul) * factor)))
                parts.append(f"{int(scaled)}x{ir}")
            return "+".join(parts)
        value = float(value)
        if self.mode == "mul":
            if value == 0:
                new = self.lo if direction > 0 else 0.0
            else:
                new = value * self.step if direction > 0 else value / self.step
        else:
            new = value + direction * self.step
        new = min(self.hi, max(self.lo, new))
        if self.integer:
            new = int(max(self.lo, self.multiple * round(new / self.multiple)))
        else:
            new = float(f"{new:.6g}")  # no 0.30000000000000004 in the summary
        if (new - value) * direction < 0:  # a value outside the bounds is never moved backwards
            return int(value) if self.integer else value
        return new


GNN_KNOBS: tuple[Knob, ...] = (
    Knob("lr", "lr", "mul", 2.0, 1e-7, 5e-2),
    Knob("epochs", "budget", "mul", 2.0, 1, 5000, integer=True),
    Knob("hidden", "capacity", "mul", 1.5, 16, 1024, integer=True, multiple=8),
    Knob("weight_decay", "regularisation", "mul", 4.0, 1e-6, 1e-1),
    Knob("dropout", "regularisation", "add", 0.1, 0.0, 0.5),
)
E3NN_KNOBS: tuple[Knob, ...] = (
    Knob("lr", "lr", "mul", 2.0, 1e-7, 5e-2),
    Knob("epochs", "budget", "mul", 2.0, 1, 5000, integer=True),
    Knob("irreps", "capacity", "irreps", 1.5, 1, 512),
    Knob("weight_decay", "regularisation", "mul", 4.0, 1e-6, 1e-1),
    Knob("dropout", "regularisation", "add", 0.1, 0.0, 0.5),
)
MACE_KNOBS: tuple[Knob, ...] = (
    Knob("lr", "lr", "mul", 2.0, 1e-6, 5e-2),
    Knob("epochs", "budget", "mul", 2.0, 1, 5000, integer=True),
    Knob("num_channels", "capacity", "mul", 1.5, 8, 512, integer=True, multiple=8),
)
FOREST_KNOBS: tuple[Knob, ...] = (
    Knob("n_estimators", "budget", "mul", 2.0, 10, 4000, integer=True),
    Knob("max_depth", "capacity", "add", 4, 2, 64, integer=True),
    Knob("min_samples_leaf", "regularisation", "add", 2, 1, 50, integer=True),
)

MOVES: dict[str, tuple[Role, int]] = {
    "budget_up": ("budget", +1),
    "lr_up": ("lr", +1),
    "lr_down": ("lr", -1),
    "capacity_up": ("capacity", +1),
    "capacity_down": ("capacity", -1),
    "regularise_up": ("regularisation", +1),
    "regularise_down": ("regularisation", -1),
}
MOVE_ORDER: dict[str, tuple[str, ...]] = {
    "still improving": (
        "budget_up",
        "lr_up",
        "capacity_up",
        "regularise_up",
        "lr_down",
        "regularise_down",
        "capacity_down",
    ),
    "overfitting": (
        "regularise_up",
        "lr_down",
        "capacity_down",
        "budget_up",
        "lr_up",
        "capacity_up",
        "regularise_down",
    ),
    "underfitting": (
        "capacity_up",
        "regularise_down",
        "lr_down",
        "budget_up",
        "lr_up",
        "regularise_up",
        "capacity_down",
    ),
    "plateau": (
        "lr_down",
        "capacity_up",
        "regularise_up",
        "budget_up",
        "lr_up",
        "regularise_down",
        "capacity_down",
    ),
}


def apply_move(params: Mapping[str, object], move: str, knobs: tuple[Knob, ...]) -> dict:
    role, direction = MOVES[move]
    out = dict(params)
    for knob in knobs:
        if knob.role == role and knob.name in out and out[knob.name] is not None:
            out[knob.name] = knob.moved(out[knob.name], direction)
    return out


# --- the policy and what a round left behind ------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """The tuner's own constants (docs/automation.md explains each)."""

    rel_floor: float = 0.02  # smallest relative improvement that counts (the runbook used 0.5-2 %)
    patience: int = 2  # rounds in a row without an improvement beyond the noise: converged
    max_failures: int = 2  # failed rounds in a row: stop the target
    still_improving_fraction: float = 0.8  # best epoch in the last 20 % of the run: budget-bound
    overfit_ratio: float = 1.5  # val score / train score above this: overfitting
    underfit_ratio: float = 1.15  # below this: underfitting


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


@dataclass
class Round:
    round: int
    params: dict
    move: str  # "preset", "repeat_seed", "retry_after_failure" or a key of MOVES
    parent: int | None
    outcome: Outcome | None = None


@dataclass
class Decision:
    params: dict | None  # None: stop
    move: str
    parent: int | None
    reason: str

    @property
    def stop(self) -> bool:
        return self.params is None


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


# --- the rules ---------------------------------------------------------------------------------


def measured_noise(history: list[Round]) -> float | None:
    """Largest relative difference between two successful rounds that differ only by seed."""
    values = []
    for r in history:
        if r.move != "repeat_seed" or r.parent is None or not _ok(r):
            continue
        parent = history[r.parent - 1]
        if _ok(parent):
            a, b = parent.outcome.val_score, r.outcome.val_score  # type: ignore[union-attr]
            values.append(abs(a - b) / min(a, b))  # type: ignore[operator]
    return max(values) if values else None


def noise_level(history: list[Round], policy: Policy) -> float:
    measured = measured_noise(history)
    return max(policy.rel_floor, measured or 0.0)


def _ok(r: Round) -> bool:
    return r.outcome is not None and r.outcome.ok and r.outcome.val_score is not None


def best_round(history: list[Round]) -> Round | None:
    ok = [r for r in history if _ok(r)]
    return min(ok, key=lambda r: (r.outcome.val_score, r.round)) if ok else None  # type: ignore[union-attr]


def relative_improvement(history: list[Round], index: int) -> tuple[float | None, float | None]:
    """(best score before round ``index`` (1-based), relative improvement of that round over it)."""
    before = best_round(history[: index - 1])
    r = history[index - 1]
    if before is None or not _ok(r):
        return (before.outcome.val_score if before else None), None  # type: ignore[union-attr]
    prev = before.outcome.val_score  # type: ignore[union-attr]
    return prev, (prev - r.outcome.val_score) / prev  # type: ignore[operator,union-attr]


def diagnose(outcome: Outcome, policy: Policy) -> str:
    """Read a round's learning curve: still improving, overfitting, underfitting or plateau."""
    if (
        outcome.best_epoch
        and outcome.epochs_run
        and not outcome.stop_reason.startswith("early stop")
        and outcome.best_epoch >= policy.still_improving_fraction * outcome.epochs_run
    ):
        return "still improving"
    if outcome.train_score and outcome.val_score is not None and outcome.train_score > 0:
        ratio = outcome.val_score / outcome.train_score
        if ratio > policy.overfit_ratio:
            return "overfitting"
        if ratio < policy.underfit_ratio:
            return "underfitting"
    return "plateau"


def next_round(
    history: list[Round],
    knobs: tuple[Knob, ...],
    limit: int,
    policy: Policy = Policy(),
    measure_noise: bool = False,
) -> Decision:
    """Parameters of round ``len(history) + 1`` from the finished rounds, or a reason to stop."""
    if not history:
        raise ValueError("round 1 trains the preset; next_round needs at least one finished round")
    if any(r.outcome is None for r in history):
        raise ValueError("every round in the history must have finished")
    n = len(history)
    last = history[-1]
    best = best_round(history)
    noise = noise_level(history, policy)

    if n >= limit:
        return Decision(None, "", None, f"round limit of {limit} reached")
    hashes = {r.outcome.split_hash for r in history if r.outcome.split_hash}  # type: ignore[union-attr]
    if len(hashes) > 1:
        return Decision(None, "", None, "the data or split changed during the session")

    if not _ok(last):
        failures = 0
        for r in reversed(history):
            if _ok(r):
                break
            failures += 1
        why = last.outcome.note or "no finite validation score"  # type: ignore[union-attr]
        if failures >= policy.max_failures:
            return Decision(None, "", None, f"{failures} failed rounds in a row ({why})")
        base = best or last
        params = apply_move(base.params, "lr_down", knobs)
        if any(r.params == params for r in history):
            return Decision(None, "", None, f"round {n} failed ({why}) and a lower lr is out of bounds")
        return Decision(
            params,
            "retry_after_failure",
            base.round,
            f"round {n} failed ({why}): retry from round {base.round}'s parameters with lr ×0.5",
        )

    if measure_noise and n == 1 and "seed" in last.params:
        params = dict(last.params)
        params["seed"] = int(params.get("seed", levels.SEED)) + 1
        return Decision(
            params, "repeat_seed", 1, "repeat round 1 with another training seed to measure noise"
        )

    assert best is not None
    # rounds in a row (after round 1, seed repeats aside) without an improvement beyond the noise
    stale = 0
    for k in range(n, 1, -1):
        r = history[k - 1]
        if r.move == "repeat_seed":
            continue
        _, rel = relative_improvement(history, k)
        if rel is not None and rel > noise:
            break
        stale += 1
    if stale >= policy.patience:
        return Decision(
            None,
            "",
            None,
            f"converged: {stale} rounds in a row without a validation improvement above the "
            f"noise ({noise:.1%}); best is round {best.round} ({best.outcome.val_score:.4g})",  # type: ignore[union-attr]
        )

    prev, rel = relative_improvement(history, n)
    if n > 1 and last.move in MOVES and rel is not None and rel > noise:
        params = apply_move(last.params, last.move, knobs)
        if params != last.params:
            return Decision(
                params,
                last.move,
                last.round,
                f"round {n} improved the validation score by {rel:.1%} (noise {noise:.1%}): "
                f"{last.move} again",
            )

    state = diagnose(best.outcome, policy)  # type: ignore[arg-type]
    tried = {r.move for r in history if r.parent == best.round}
    for move in MOVE_ORDER[state]:
        if move in tried:
            continue
        params = apply_move(best.params, move, knobs)
        if params == best.params:
            continue  # no knob of that role, or every one at its bound
        if any(r.params == params for r in history):
            continue
        judged = ""
        if n > 1 and best.round != n:
            judged = f"round {n} did not beat round {best.round} by more than the noise ({noise:.1%}); "
        elif n > 1 and rel is not None:
            judged = f"round {n} is {rel:.1%} better, within the noise ({noise:.1%}); "
        return Decision(
            params,
            move,
            best.round,
            f"{judged}round {best.round} looks {state}"
            f" (val {best.outcome.val_score:.4g}, train {_fmt(best.outcome.train_score)}, "  # type: ignore[union-attr]
            f"best epoch {best.outcome.best_epoch}/{best.outcome.epochs_run}): {move}",  # type: ignore[union-attr]
        )
    return Decision(None, "", None, f"converged: every move from round {best.round} was tried")


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


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


# --- which assets each phase tunes -----------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """A model family that can be tuned: its assets, its preset table in ``levels`` and its knobs."""

    name: str
    phase: str
    algorithm: str
    preset_table: str  # attribute of matassets.levels; the family is skipped while it is missing
    knobs: tuple[Knob, ...]
    asset: str  # exact asset name, or a prefix ending in "_" for one asset per property
    per_property: bool = False


# phase -> families, in the runbook's order. Families whose preset table or assets do not exist yet
# are skipped (and reported as skipped in the session).
FAMILIES: tuple[Family, ...] = (
    Family("cgcnn", "phase1", "cgcnn", "CGCNN", GNN_KNOBS, "cgcnn_", per_property=True),
    Family("e3nn_multitask", "phase2", "e3nn", "E3NN_MULTITASK", E3NN_KNOBS, "multitask_e3nn"),
    Family("specialist", "phase3", "equivariant", "SPECIALIST", E3NN_KNOBS, "specialist_", True),
    Family("mace", "phase3", "mace", "MACE", MACE_KNOBS, "mace_potential"),
    Family("topognn", "phase4", "topognn", "TOPO_GNN", GNN_KNOBS, "topo_classifier_gnn"),
    Family("random_forest", "phase4", "rf", "TOPO_RF", FOREST_KNOBS, "topo_classifier_rf"),
)


@dataclass
class Target:
    asset: str
    phase: str
    algorithm: str
    family: str
    knobs: list[str]
    preset: dict  # the partition's preset values of the knobs (+ seed)
    start: dict = field(default_factory=dict)  # round 1's parameters (the preset unless changed)
    status: str = "pending"  # pending, running, done
    best_round: int | None = None
    promoted: bool | None = None
    promotion_reason: str = ""
    stop_reason: str = ""


def preset_row(table: str, partition: str) -> object | None:
    rows = getattr(levels, table, None)
    if not isinstance(rows, Mapping) or partition not in rows:
        return None
    return rows[partition]


def _row_values(row: object) -> dict:
    if is_dataclass(row):
        return {f.name: getattr(row, f.name) for f in fields(row)}
    if isinstance(row, Mapping):
        return dict(row)
    return dict(vars(row))


def resolve_targets(
    phase: str,
    partition: str,
    available: Mapping[str, set[str]],
    prop: str | None = None,
) -> tuple[list[Target], list[str]]:
    """The tunable assets of ``phase`` ("all" = every phase) and why any family was skipped.

    ``available`` maps each defined asset to the names of its run-config fields; an asset is
    tunable only when its config has ``output_tag`` (so rounds never overwrite the current model).
    """
    phases = PHASES if phase == "all" else (phase,)
    if any(p not in PHASES for p in phases):
        raise ValueError(f"unknown phase {phase!r}; choose one of {', '.join(PHASES)} or all")
    targets, skipped = [], []
    for fam in FAMILIES:
        if fam.phase not in phases:
            continue
        row = preset_row(fam.preset_table, partition)
        if fam.per_property:
            names = [a for a in available if a.startswith(fam.asset)]
            if prop:
                names = [a for a in names if a == fam.asset + prop]
        else:
            names = [fam.asset] if fam.asset in available and not prop else []
        if not names:
            skipped.append(
                f"{fam.name}: no asset {fam.asset}{'<property>' if fam.per_property else ''}"
                f"{' for ' + prop if prop else ''} is defined"
            )
            continue
        if row is None:
            skipped.append(f"{fam.name}: no {fam.preset_table}[{partition!r}] preset in matassets.levels")
            continue
        values = _row_values(row)
        for name in names:
            config = available[name]
            if "output_tag" not in config:
                skipped.append(f"{name}: its config has no output_tag field (rounds would overwrite it)")
                continue
            knobs = [k.name for k in fam.knobs if k.name in config and k.name in values]
            if not knobs:
                skipped.append(f"{name}: none of {[k.name for k in fam.knobs]} is in its config")
                continue
            preset = {k: values[k] for k in knobs}
            if "seed" in config:
                preset["seed"] = levels.DATA[partition].seed
            targets.append(Target(name, fam.phase, fam.algorithm, fam.name, knobs, preset))
    return targets, skipped


def family_knobs(target: Target) -> tuple[Knob, ...]:
    fam = next(f for f in FAMILIES if f.name == target.family)
    return tuple(k for k in fam.knobs if k.name in target.knobs)


# --- the session ---------------------------------------------------------------------------------


@dataclass
class RoundPlan:
    """What to train next: one asset, one round, its parameters and the config that says so."""

    session: str
    asset: str
    partition: str
    round: int
    params: dict
    move: str
    parent: int | None
    reason: str
    overrides: dict  # run config for the asset (changed knobs + output_tag)
    command: str

    @property
    def output_tag(self) -> str:
        return self.overrides["output_tag"]

    @property
    def run_config(self) -> dict:
        return {"ops": {self.asset: {"config": self.overrides}}}


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


@dataclass
class Step:
    """The result of recording a round: its summary row, a promotion if a target ended, the next plan."""

    row: dict
    next: RoundPlan | None
    promotion: Promotion | None = None


def new_session_name(phase: str, partition: str, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{phase}-{partition}-{secrets.token_hex(2)}"


@dataclass
class TuningSession:
    layout: Layout
    session: str
    phase: str
    partition: str
    rounds: int
    prop: str | None
    measure_noise: bool
    targets: list[Target]
    skipped: list[str]
    policy: Policy = field(default_factory=Policy)
    plans: dict[str, dict] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    status: str = "running"
    created: str = ""

    # persistence ------------------------------------------------------------------------------
    @property
    def folder(self) -> Path:
        return self.layout.tuning_session_dir(self.session)

    @classmethod
    def create(
        cls,
        layout: Layout,
        phase: str,
        partition: str,
        rounds: int,
        available: Mapping[str, set[str]],
        prop: str | None = None,
        measure_noise: bool = False,
        session: str | None = None,
        policy: Policy | None = None,
        start: Mapping[str, object] | None = None,
    ) -> TuningSession:
        """Plan a session; ``start`` changes round 1's parameters (default: the preset row)."""
        if rounds < 1:
            raise ValueError("rounds must be at least 1")
        if partition not in levels.PARTITIONS:
            raise ValueError(f"unknown level {partition!r}; one of {', '.join(levels.PARTITIONS)}")
        targets, skipped = resolve_targets(phase, partition, available, prop)
        if not targets:
            raise ValueError(
                f"nothing to tune for {phase} at {partition}: " + "; ".join(skipped or ["no assets"])
            )
        for t in targets:
            unknown = set(start or {}) - set(t.knobs)
            if unknown:
                raise ValueError(f"{t.asset} cannot start from {sorted(unknown)}; knobs: {t.knobs}")
            t.start = {**t.preset, **dict(start or {})}
        name = session or new_session_name(phase, partition)
        layout.tuning_session_dir(name)  # validates the name
        out = cls(
            layout,
            name,
            phase,
            partition,
            rounds,
            prop,
            measure_noise,
            targets,
            skipped,
            policy or Policy(),
            created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        if (out.folder / "session.json").exists():
            raise FileExistsError(f"tuning session {name} already exists in {out.folder}")
        out.save()
        return out

    @classmethod
    def load(cls, layout: Layout, session: str) -> TuningSession:
        data = json.loads((layout.tuning_session_dir(session) / "session.json").read_text())
        return cls(
            layout,
            data["session"],
            data["phase"],
            data["partition"],
            data["rounds"],
            data["property"],
            data["measure_noise"],
            [Target(**t) for t in data["targets"]],
            data["skipped"],
            Policy(**data["policy"]),
            data["plans"],
            data["rows"],
            data["status"],
            data["created"],
        )

    def state(self) -> dict:
        return {
            "session": self.session,
            "phase": self.phase,
            "partition": self.partition,
            "rounds": self.rounds,
            "property": self.prop,
            "measure_noise": self.measure_noise,
            "targets": [asdict(t) for t in self.targets],
            "skipped": self.skipped,
            "policy": asdict(self.policy),
            "plans": self.plans,
            "rows": self.rows,
            "status": self.status,
            "created": self.created,
        }

    def save(self) -> None:
        write_json(self.folder / "session.json", self.state())
        write_summary(self.folder, self.summary_meta(), self.rows)

    def summary_meta(self) -> dict:
        return {
            "session_id": self.session,
            "phase": self.phase,
            "stage": self.partition,
            "rounds": self.rounds,
            "property": self.prop,
            "measure_noise": self.measure_noise,
            "policy": asdict(self.policy),
            "status": self.status,
            "created": self.created,
            "skipped": self.skipped,
            "targets": [
                {k: getattr(t, k) for k in ("asset", "algorithm", "status", "best_round", "promoted")}
                | {"promotion_reason": t.promotion_reason, "stop_reason": t.stop_reason}
                for t in self.targets
            ],
        }

    # the rounds -------------------------------------------------------------------------------
    def target(self, asset: str) -> Target:
        return next(t for t in self.targets if t.asset == asset)

    def plan(self, asset: str, round_: int) -> RoundPlan:
        return RoundPlan(**self.plans[f"{asset}/{round_}"])

    def history(self, asset: str) -> list[Round]:
        out = []
        for row in self.rows:
            if row["asset"] != asset:
                continue
            p = self.plan(asset, row["round"])
            out.append(Round(p.round, p.params, p.move, p.parent, Outcome(**row["_outcome"])))
        return out

    def first_plan(self) -> RoundPlan | None:
        """Round 1 of the first target not yet started (None when the session is over)."""
        for t in self.targets:
            if t.status == "pending":
                t.status = "running"
                changed = t.start != t.preset
                plan = self._make_plan(
                    t,
                    1,
                    dict(t.start or t.preset),
                    "start" if changed else "preset",
                    None,
                    "the given start parameters" if changed else "the level's preset",
                )
                self.save()
                return plan
        self.status = "finished"
        self.save()
        return None

    def _make_plan(
        self, t: Target, round_: int, params: dict, move: str, parent: int | None, reason: str
    ) -> RoundPlan:
        tag = f"{self.session}/round_{round_}"
        changed = {k: v for k, v in params.items() if t.preset.get(k) != v}
        overrides = {**changed, "output_tag": tag}
        command = (
            f"dagster asset materialize -m matassets.definitions --select {t.asset} "
            f"--partition {self.partition} --config-json '{json.dumps(self_run_config(t.asset, overrides))}'"
        )
        plan = RoundPlan(
            self.session, t.asset, self.partition, round_, params, move, parent, reason, overrides, command
        )
        self.plans[f"{t.asset}/{round_}"] = asdict(plan)
        return plan

    def candidate_dir(self, plan: RoundPlan) -> Path:
        return self.layout.tuning_model_dir(plan.asset, plan.output_tag)

    def record(self, plan: RoundPlan, run_id: str, return_code: int, duration_s: float) -> Step:
        """Record a finished round, decide what follows, promote when the target is done."""
        if any(r["asset"] == plan.asset and r["round"] == plan.round for r in self.rows):
            raise ValueError(f"{plan.asset} round {plan.round} of {self.session} is already recorded")
        t = self.target(plan.asset)
        model_dir = self.candidate_dir(plan)
        outcome = read_outcome(model_dir, return_code)
        history = self.history(plan.asset) + [Round(plan.round, plan.params, plan.move, plan.parent, outcome)]
        decision = next_round(history, family_knobs(t), self.rounds, self.policy, self.measure_noise)
        prev, rel = relative_improvement(history, len(history))
        row = {
            "session_id": self.session,
            "phase": t.phase,
            "algorithm": t.algorithm,
            "asset": t.asset,
            "stage": self.partition,
            "round": plan.round,
            "run_id": run_id,
            "return_code": return_code,
            "duration_sec": round(duration_s, 2),
            "metric": outcome.metric,
            "metric_mode": "min",
            "score": outcome.val_score,
            "prev_score": prev,
            "relative_improvement": rel,
            "noise": noise_level(history, self.policy),
            "move": plan.move,
            "auto_tune_reason": decision.reason,
            "params_in": plan.params,
            "params_out": decision.params,
            "model_dir": str(model_dir),
            "manifest_path": str(model_dir / "run_record.json"),
            "promoted": None,
            "command": plan.command,
            "_outcome": asdict(outcome),
        }
        self.rows.append(row)
        step = Step(row, None)
        if decision.stop:
            t.stop_reason = decision.reason
            step.promotion = self._finish_target(t, history)
            if step.promotion.round is not None:
                for r in self.rows:
                    if r["asset"] == t.asset and r["round"] == step.promotion.round:
                        r["promoted"] = step.promotion.promoted
            self.save()
            step.next = self.first_plan()
        else:
            step.next = self._make_plan(
                t,
                plan.round + 1,
                decision.params,
                decision.move,
                decision.parent,
                decision.reason,  # type: ignore[arg-type]
            )
            self.save()
        return step

    def _finish_target(self, t: Target, history: list[Round]) -> Promotion:
        best = best_round(history)
        final = self.layout.model_dir(t.asset, self.partition)
        current = final / "metrics.json"
        current_metrics = json.loads(current.read_text()) if current.exists() else None
        record = final / "run_record.json"
        current_hash = json.loads(record.read_text()).get("split_hash") if record.exists() else None
        ok, reason = promotion_decision(best.outcome if best else None, current_metrics, current_hash)
        t.status = "done"
        t.best_round = best.round if best else None
        t.promoted = ok
        t.promotion_reason = reason
        source = ""
        if best is not None:
            source = str(self.layout.tuning_model_dir(t.asset, f"{self.session}/round_{best.round}"))
            if ok:
                from matassets.locks import RunInProgressError, run_lock

                # the same lock as a training run of this asset partition (training.graph_model)
                lock = final.parent / ".work" / f"{self.partition}.lock"
                try:
                    with run_lock(lock, f"{t.asset} [{self.partition}]"):
                        promote(Path(source), final, self.session, best.round)
                except RunInProgressError as exc:
                    ok, reason = False, f"not promoted, although better ({reason}): {exc}"
                    t.promoted, t.promotion_reason = ok, reason
        return Promotion(
            t.asset,
            self.partition,
            ok,
            reason,
            best.round if best else None,
            best.outcome.val_score if best else None,  # type: ignore[union-attr]
            source,
            str(final),
        )


def self_run_config(asset: str, overrides: Mapping) -> dict:
    return {"ops": {asset: {"config": dict(overrides)}}}


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


# --- the summary files -----------------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def write_summary(folder: Path, meta: dict, rows: list[dict]) -> None:
    """``summary.json`` (session, targets and rows) and ``summary.csv`` (one row per round)."""
    clean = [{c: r.get(c) for c in SUMMARY_COLUMNS} for r in rows]
    write_json(Path(folder) / "summary.json", {**meta, "columns": list(SUMMARY_COLUMNS), "rows": clean})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(SUMMARY_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for r in clean:
        writer.writerow({c: _cell(v) for c, v in r.items()})
    text = buffer.getvalue()
    atomic_write(Path(folder) / "summary.csv", lambda tmp: tmp.write_text(text, encoding="utf-8"))
