"""The tuning rules as pure functions: which round comes next, or why the target stops.

docs/automation.md has the reasoning:

* Round 1 trains the partition's preset row unchanged (the baseline). With ``measure_noise`` round 2
  repeats round 1 with another training seed (same split): the relative difference of the two is
  the measured seed noise.
* Noise = max(``rel_floor`` (2 %), measured seed noise). A round "improves" only when it beats the
  best earlier score by more than the noise.
* The next round's parameters come from one *move* (``matassets.automation.tuning.knobs``) applied to a
  parent's parameters; a move that changes nothing is skipped.
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
"""

from __future__ import annotations

from dataclasses import dataclass

from matassets import levels
from matassets.automation.tuning.knobs import MOVE_ORDER, MOVES, Knob, apply_move
from matassets.automation.tuning.outcomes import Outcome


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
