"""A tuning session: its targets, the plan of each round, what each round gave, its state on disk.

Both launch paths (the Dagster sensors, ``matassets tune``) call :class:`TuningSession`, so they
follow the same rules and write the same files: ``session.json`` (the state the sensors read) and
the summary files in ``artifacts/adaptive_tuning/<session>/``. A session of registered data set D's
models has D's layout (its model folders) and targets named as Dagster names them (``D/cgcnn_x``).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from matassets import levels
from matassets.automation.tuning.outcomes import Outcome, read_outcome
from matassets.automation.tuning.promotion import Promotion, promote, promotion_decision
from matassets.automation.tuning.rules import (
    Policy,
    Round,
    best_round,
    next_round,
    noise_level,
    relative_improvement,
)
from matassets.automation.tuning.summary import write_summary
from matassets.automation.tuning.targets import Target, family_knobs, resolve_targets
from matassets.io import write_json
from matassets.paths import EMBEDDED, Layout


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
        return self_run_config(self.asset, self.overrides)


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
        algorithm: str | None = None,
        session: str | None = None,
        policy: Policy | None = None,
        start: Mapping[str, object] | None = None,
    ) -> TuningSession:
        """Plan a session; ``start`` changes round 1's parameters (default: the preset row)."""
        if rounds < 1:
            raise ValueError("rounds must be at least 1")
        if partition not in levels.PARTITIONS:
            raise ValueError(f"unknown level {partition!r}; one of {', '.join(levels.PARTITIONS)}")
        targets, skipped = resolve_targets(phase, partition, available, prop, algorithm, layout)
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
            layout.for_dataset(data.get("dataset", EMBEDDED)),
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
            "dataset": self.layout.dataset,
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
        return self.layout.tuning_model_dir(model_folder(plan.asset), plan.output_tag)

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
        folder = model_folder(t.asset)
        final = self.layout.model_dir(folder, self.partition)
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
            source = str(self.layout.tuning_model_dir(folder, f"{self.session}/round_{best.round}"))
            if ok:
                from matassets.locks import RunInProgressError, run_lock
                from matassets.training.model_folder import IntegrityError, ModelFolder

                # the same lock as a training run of this asset partition (training.model_folder)
                lock = ModelFolder(self.layout, folder, self.partition).lock
                try:
                    with run_lock(lock, f"{t.asset} [{self.partition}]"):
                        promote(
                            self.layout, folder, self.partition, Path(source), self.session,
                            best.round, reason,
                        )  # fmt: skip
                except (RunInProgressError, IntegrityError, ValueError) as exc:
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
    """``overrides`` as the run config of ``asset``'s op (``D/x``'s op is ``D__x``, as Dagster names it)."""
    return {"ops": {asset.replace("/", "__"): {"config": dict(overrides)}}}


def model_folder(asset: str) -> str:
    """The folder name (under its data set's ``models()``) of the model Dagster names ``asset``."""
    return asset.rpartition("/")[2]
