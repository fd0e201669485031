"""The one Dagster code location: assets, checks, jobs, schedules, sensors and resources."""

import dagster as dg

from matassets.assets import (
    data,
    leaderboard,
    phase1,
    phase2,
    phase3_mace,
    phase3_specialist,
    phase4_topo,
)
from matassets.assets.tuning import tuning_job, tuning_rounds_job
from matassets.cluster import K8S_CONFIG_TAG, k8s_config
from matassets.resources import ProjectResource
from matassets.schedules import SCHEDULES, nightly_smoke_job
from matassets.sensors import SENSORS, incoming_data_job, std_retrain_job

# Each phase's asset module; a new phase adds its module here and its job below.
ASSET_MODULES = [data, phase1, phase2, phase3_mace, phase3_specialist, phase4_topo, leaderboard]


def phase_job(group: str, description: str):
    """A job that materializes one asset group and everything upstream of it.

    Tagged with the group's cpu/memory/GPU needs for the K8sRunLauncher (matassets/cluster.py)."""
    return dg.define_asset_job(
        f"{group}_job",
        selection=dg.AssetSelection.groups(group).upstream(),
        description=description,
        tags={K8S_CONFIG_TAG: k8s_config(group)},
    )


JOBS = [
    phase_job("data", "raw data to validated structures, splits and graphs"),
    phase_job("phase1", "Phase 1: every CGCNN property model"),
    phase_job("phase2", "Phase 2: the E(3)-equivariant multitask model"),
    phase_job("phase3", "Phase 3: MACE potential and single-property e3nn specialists"),
    phase_job("phase4", "Phase 4: topological database, random forest and TopoGNN classifiers"),
]

defs = dg.Definitions(
    assets=dg.load_assets_from_modules(ASSET_MODULES),
    jobs=JOBS + [tuning_job, tuning_rounds_job, incoming_data_job, std_retrain_job, nightly_smoke_job],
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources={"project": ProjectResource()},
)
