"""Every asset module of the code location, in one list (``definitions`` and the tuning driver read it)."""

from __future__ import annotations

import dagster as dg

from matassets.assets import data, leaderboard, phase1, phase2, phase3_mace, phase3_specialist, phase4_topo

# a new phase or family adds its asset module here (its job comes from families.PHASES)
ASSET_MODULES = [data, phase1, phase2, phase3_mace, phase3_specialist, phase4_topo, leaderboard]


def all_assets() -> list:
    """The embedded set's assets, then those of every data set registered under the project root
    (``matassets dataset add``; their keys are prefixed with the data set's name), then the screening
    predictions of each (model, data set) (``assets/screening.py``)."""
    from matassets.assets.datasets import registered_assets
    from matassets.assets.screening import screening_assets

    return [*dg.load_assets_from_modules(ASSET_MODULES), *registered_assets(), *screening_assets()]
