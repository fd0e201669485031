"""The one Dagster code location: assets, checks, jobs, schedules, sensors and resources."""

import dagster as dg

from matassets.assets import data as data_assets
from matassets.assets.phase1 import cgcnn_assets
from matassets.resources import ProjectResource

data_job = dg.define_asset_job(
    "data_job", selection=dg.AssetSelection.groups("data"), description="raw data to graphs"
)
phase1_job = dg.define_asset_job(
    "phase1_job",
    selection=dg.AssetSelection.groups("phase1").upstream(),
    description="Phase 1: data and every CGCNN property model",
)

defs = dg.Definitions(
    assets=[*dg.load_assets_from_modules([data_assets]), *cgcnn_assets],
    jobs=[data_job, phase1_job],
    resources={"project": ProjectResource()},
)
