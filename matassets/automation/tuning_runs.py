"""Adaptive tuning in Dagster: a job that starts a session, one tagged run per round.

``tuning_job`` (config: phase, rounds, property, level, dataset) writes the session's plan; the run-status
sensors in ``matassets.automation.sensors`` then launch round 1, and round N+1 whenever round N finishes, each
as its own run of ``tuning_rounds_job`` tagged ``matassets/tuning_session`` and
``matassets/tuning_round``. ``run_session_in_process`` runs the same rounds one after another without
a daemon (``matassets tune``). The rules themselves live in the ``matassets.automation.tuning`` package.
"""

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Literal

import dagster as dg

from matassets.assets.common import dvc_version
from matassets.assets.resources import ProjectResource
from matassets.automation.tuning.promotion import Promotion
from matassets.automation.tuning.session import RoundPlan, TuningSession
from matassets.families import PHASES
from matassets.jobs import ASSET_TAG, ROUND_TAG, SESSION_TAG, TUNING_JOB, TUNING_ROUNDS_JOB, runtime_tags
from matassets.levels import PARTITIONS
from matassets.paths import EMBEDDED


def config_fields(assets_defs: Iterable[dg.AssetsDefinition]) -> dict[str, set[str]]:
    """Each asset's name and the names of its run-config fields (what a round may override)."""
    out: dict[str, set[str]] = {}
    for a in assets_defs:
        schema = a.op.config_schema
        fields = set(getattr(schema.config_type, "fields", {}) or {}) if schema else set()
        for key in a.keys:
            out[key.to_user_string()] = fields
    return out


def round_tags(plan: RoundPlan) -> dict[str, str]:
    return {SESSION_TAG: plan.session, ROUND_TAG: str(plan.round), ASSET_TAG: plan.asset} | runtime_tags(
        plan.partition
    )


def round_request(plan: RoundPlan) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=f"{plan.session}/{plan.asset}/{plan.round}",
        job_name=TUNING_ROUNDS_JOB,
        asset_selection=[dg.AssetKey.from_user_string(plan.asset)],  # a data set's D/x: two parts
        partition_key=plan.partition,
        run_config=plan.run_config,
        tags=round_tags(plan),
    )


def report_promotion(
    instance: dg.DagsterInstance, project: ProjectResource, session: str, promotion: Promotion
) -> None:
    """A promoted round becomes the asset's current version: record that as a materialization
    (with DVC on, commit the new files first and make their hash the data version)."""
    if not promotion.promoted:
        return
    tags = {SESSION_TAG: session}
    version = dvc_version(project, promotion.asset, promotion.partition, logging.getLogger(__name__).warning)
    if version:
        tags["dagster/data_version"] = version
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=promotion.asset,
            partition=promotion.partition,
            description=f"promoted from tuning session {session}, round {promotion.round}",
            metadata={
                "promoted from": dg.MetadataValue.path(promotion.source),
                "model path": dg.MetadataValue.path(promotion.model_dir),
                "val score": promotion.val_score,
                "reason": promotion.reason,
                **({"dvc_md5": version} if version else {}),
            },
            tags=tags,
        )
    )


# --- the start job ---------------------------------------------------------------------------------


class TuningConfig(dg.Config):
    """What to tune: ``phase`` (phase1..phase4 or all), ``rounds``, ``property``, ``level``, and
    ``dataset``: a registered data set's models (``matassets dataset list``) instead of the
    embedded set's, as ``matassets tune --dataset``."""

    phase: Literal[(*PHASES, "all")] = "phase1"  # the Launchpad offers the choices
    rounds: int = 3
    property: str = ""  # empty: every property of the phase
    level: Literal[PARTITIONS] = "smoke"
    measure_noise: bool = True  # round 2 repeats round 1 with another seed to measure noise
    session: str = ""  # empty: <UTC time>-<phase>-<level>-<random>
    start: str = ""  # JSON object of round 1's parameters, e.g. {"epochs": 1} (empty: the preset)
    algorithm: str = ""  # empty: the phase's runbook families; e.g. "schnet" for a family outside it
    dataset: str = EMBEDDED  # a registered data set: its models (D/cgcnn_<property>, D/forest_...)


def start_session(
    project: ProjectResource, config: TuningConfig, available: Mapping[str, set[str]]
) -> TuningSession:
    from matassets import datasets

    try:  # an unknown name: the registered ones are listed
        manifest = datasets.get(config.dataset, project.layout.root)
    except ValueError as exc:
        raise dg.Failure(f"dataset: {exc}") from exc
    layout = project.layout.for_dataset(EMBEDDED if manifest.builtin else manifest.name)
    missing = [
        str(p)
        for p in (layout.split_manifest(config.level), layout.graphs_pointer(config.level))
        if not p.exists()
    ]
    if missing:
        data = "data_job" if layout.dataset == EMBEDDED else f"the dataset_{layout.dataset} group"
        raise dg.Failure(
            f"the {config.level} data is not materialized ({', '.join(missing)} missing): "
            f"materialize {data} for {config.level} first"
        )
    try:
        start = json.loads(config.start) if config.start else None
        if start is not None and not isinstance(start, dict):
            raise ValueError(f"start must be a JSON object, got {config.start!r}")
        return TuningSession.create(
            layout,
            config.phase,
            config.level,
            config.rounds,
            available,
            prop=config.property or None,
            measure_noise=config.measure_noise,
            algorithm=config.algorithm or None,
            session=config.session or None,
            start=start,
        )
    except (ValueError, FileExistsError) as exc:
        raise dg.Failure(str(exc)) from exc


@dg.op(description="Write a tuning session's plan; the tuning sensors then launch its rounds.")
def start_tuning_session(context: dg.OpExecutionContext, config: TuningConfig, project: ProjectResource):
    from matassets.assets.catalog import all_assets

    assets = [a for a in all_assets() if isinstance(a, dg.AssetsDefinition)]
    session = start_session(project, config, config_fields(assets))
    context.instance.add_run_tags(context.run_id, {SESSION_TAG: session.session})
    for line in [f"{t.asset}: round 1 = {t.preset}" for t in session.targets] + session.skipped:
        context.log.info(line)
    return session.session


@dg.job(
    name=TUNING_JOB,
    description="Adaptive tuning: pick phase, rounds, property, level and data set; turn on the "
    "tuning_round_sensor and tuning_failure_sensor, which run one round per run.",
)
def tuning_job():
    start_tuning_session()


def advance_session(
    instance: dg.DagsterInstance, project: ProjectResource, run: dg.DagsterRun, success: bool
) -> dg.RunRequest | dg.SkipReason:
    """A tuning run ended: start round 1 (start job) or record the round and request the next."""
    name = run.tags.get(SESSION_TAG)
    if not name:
        return dg.SkipReason(f"run {run.run_id} has no {SESSION_TAG} tag")
    session = TuningSession.load(project.layout, name)
    if run.job_name == TUNING_JOB:
        if not success:
            return dg.SkipReason(f"tuning session {name} did not start")
        plan = session.first_plan()
    else:
        round_ = int(run.tags[ROUND_TAG])
        asset = run.tags[ASSET_TAG]
        stats = instance.get_run_stats(run.run_id)
        seconds = (stats.end_time or 0.0) - (stats.start_time or 0.0) if stats else 0.0
        try:
            step = session.record(session.plan(asset, round_), run.run_id, 0 if success else 1, seconds)
        except ValueError as exc:  # already recorded: a repeated sensor evaluation
            return dg.SkipReason(str(exc))
        if step.promotion:
            report_promotion(instance, project, name, step.promotion)
        plan = step.next
    if plan is None:
        return dg.SkipReason(f"tuning session {name} finished: {session.folder / 'summary.csv'}")
    return round_request(plan)


# --- without a daemon ------------------------------------------------------------------------------


def materialize_round(
    plan: RoundPlan, assets: list, resources: Mapping, instance: dg.DagsterInstance | None
) -> tuple[str, int, float]:
    """Materialize one round in-process; (run id, return code, seconds)."""
    start = time.perf_counter()
    try:
        result = dg.materialize(
            assets,
            selection=[plan.asset],
            partition_key=plan.partition,
            run_config=plan.run_config,
            tags=round_tags(plan),
            instance=instance,
            resources=dict(resources),
            raise_on_error=False,
        )
    except dg.DagsterError:
        return "", 2, time.perf_counter() - start
    return result.run_id, 0 if result.success else 1, time.perf_counter() - start


def run_session_in_process(
    session: TuningSession,
    assets: list,
    resources: Mapping,
    instance: dg.DagsterInstance,
    log: Callable[[str], None] = print,
) -> TuningSession:
    """Every round of ``session``, one after another, each a Dagster materialization."""
    project = resources.get("project") or ProjectResource()
    plan = session.first_plan()
    while plan is not None:
        log(f"{plan.asset} round {plan.round} ({plan.move}): {plan.params}")
        run_id, code, seconds = materialize_round(plan, assets, resources, instance)
        step = session.record(plan, run_id, code, seconds)
        log(
            f"  return code {code}, {seconds:.1f}s, score {step.row['score']}; {step.row['auto_tune_reason']}"
        )
        if step.promotion:
            report_promotion(instance, project, session.session, step.promotion)
            log(f"  {step.promotion.asset}: promoted={step.promotion.promoted} ({step.promotion.reason})")
        plan = step.next
    return session
