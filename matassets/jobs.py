"""Every asset job and every run tag of the code location.

Phase jobs are derived from ``families.PHASES`` and sized for Kubernetes from ``families`` (the
``dagster-k8s/config`` tag; inert off Kubernetes). The one op job, ``tuning_job``, lives beside its
op in ``automation/tuning_runs.py``; it uses the names and tags below.
"""

from __future__ import annotations

import dagster as dg

from matassets.families import DATA_GROUP, PHASES, group_resources
from matassets.levels import RUN_TIME_LIMIT_S

K8S_CONFIG_TAG = "dagster-k8s/config"
MAX_RUNTIME_TAG = "dagster/max_runtime"  # honoured when run monitoring is enabled
SESSION_TAG = "matassets/tuning_session"
ROUND_TAG = "matassets/tuning_round"
ASSET_TAG = "matassets/tuning_asset"
TUNING_JOB = "tuning_job"
TUNING_ROUNDS_JOB = "tuning_rounds_job"

PHASE_DESCRIPTIONS = {
    DATA_GROUP: "raw data to validated structures, splits and graphs",
    "phase1": "Phase 1: every CGCNN property model",
    "phase2": "Phase 2: the E(3)-equivariant multitask model",
    "phase3": "Phase 3: MACE potential and single-property e3nn specialists",
    "phase4": "Phase 4: topological database, random forest and TopoGNN classifiers",
}


def runtime_tags(partition: str) -> dict[str, str]:
    """The longest a scheduled, sensor or tuning run of ``partition`` may take."""
    return {MAX_RUNTIME_TAG: str(RUN_TIME_LIMIT_S[partition])}


def phase_job(group: str) -> dg.UnresolvedAssetJobDefinition:
    """A job that materializes one asset group and everything upstream of it, sized for Kubernetes."""
    return dg.define_asset_job(
        f"{group}_job",
        selection=dg.AssetSelection.groups(group).upstream(),
        description=PHASE_DESCRIPTIONS[group],
        tags={K8S_CONFIG_TAG: group_resources(group).k8s_config()},
    )


PHASE_JOBS = [phase_job(group) for group in (DATA_GROUP, *PHASES)]

incoming_data_job = dg.define_asset_job(
    "incoming_data_job",
    selection=dg.AssetSelection.assets("raw_structures"),
    description="raw_structures from the user files in data/incoming/ (the std level)",
)
std_retrain_job = dg.define_asset_job(
    "std_retrain_job",
    selection=dg.AssetSelection.assets("raw_structures").downstream(include_self=False),
    description="Everything downstream of raw_structures: validated data, splits, graphs, every model",
)
nightly_smoke_job = dg.define_asset_job(
    "nightly_smoke_job",
    selection=dg.AssetSelection.all(),
    description="Every asset (embedded data, every model) at the given level; nightly at smoke",
)
# Every model asset a round may target; a RunRequest narrows it to one asset and one partition.
tuning_rounds_job = dg.define_asset_job(
    TUNING_ROUNDS_JOB,
    selection=dg.AssetSelection.groups(*PHASES),
    description="One adaptive tuning round (launched by the tuning sensors, one asset per run)",
)

ASSET_JOBS = [*PHASE_JOBS, incoming_data_job, std_retrain_job, nightly_smoke_job, tuning_rounds_job]
