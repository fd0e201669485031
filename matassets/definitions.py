"""The one Dagster code location: assets, checks, jobs, schedules, sensors and resources."""

from __future__ import annotations

import dagster as dg

from matassets.assets import data as data_assets
from matassets.resources import ProjectResource

data_job = dg.define_asset_job(
    "data_job", selection=dg.AssetSelection.groups("data"), description="raw data to graphs"
)

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([data_assets]),
    jobs=[data_job],
    resources={"project": ProjectResource()},
)
