"""Adding a model family is one row in families.py, a torch module and its asset (docs/architecture.md).

SchNet is that worked example: its row derives the asset, the CLI's --algorithm, the tuning target,
the job and the registry entry; it trains on the real smoke data through Dagster like CGCNN.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from matassets.families import family


def test_the_row_is_all_the_wiring():
    from matassets.automation.tuning.targets import resolve_targets
    from matassets.cli.run import DATA_PARALLEL, recipes
    from matassets.definitions import defs
    from matassets.models.registry import build_model

    row = family("schnet")
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"schnet_formation_energy", "schnet_band_gap"} <= keys
    assert [r.algorithm for r in recipes("phase1", "schnet")] == ["schnet"] and "schnet" in DATA_PARALLEL
    # not in the runbook: `run phase1` without --algorithm trains CGCNN only, as the runbook did
    assert [r.algorithm for r in recipes("phase1", None)] == ["cgcnn"]
    fields = {"schnet_band_gap": {"lr", "epochs", "hidden", "output_tag", "seed"}}
    targets, skipped = resolve_targets("phase1", "smoke", fields, prop="band_gap", algorithm="schnet")
    assert [t.asset for t in targets] == ["schnet_band_gap"]
    targets, skipped = resolve_targets("phase1", "smoke", fields, prop="band_gap")  # runbook families only
    assert targets == [] and any("--algorithm schnet" in s for s in skipped)
    job = defs.resolve_job_def("phase1_job")
    assert "schnet_band_gap" in {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    model = build_model({"family": row.architecture, "hidden": 16, "n_layers": 2, "cutoff": 8.0,
                         "gaussian_step": 0.5})  # fmt: skip
    assert type(model).__name__ == "SchNet"


def test_invariant_under_rotation_and_periodic_images():
    """The blocks see distances only: a rotated crystal and its 2x1x1 supercell give the same output."""
    from pymatgen.core import Lattice, Structure
    from pymatgen.core.operations import SymmOp

    from matassets.graphs.store import GraphStore
    from matassets.models.schnet import SchNet

    torch.manual_seed(0)
    model = SchNet(hidden=16, n_layers=2, cutoff=6.0, gaussian_step=0.5).eval()
    rock_salt = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    rotated = rock_salt.copy()
    rotated.apply_operation(SymmOp.from_axis_angle_and_translation([1, 2, 3], 37))
    super_cell = rock_salt * (2, 1, 1)
    store = GraphStore.build(["a", "r", "s"], [rock_salt, rotated, super_cell], 6.0, 12)
    with torch.no_grad():
        out = model(store.collate(np.arange(3))).numpy()[:, 0]
    np.testing.assert_allclose(out, out[0], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_schnet_trains_through_dagster_on_the_smoke_data(smoke_copy):
    from conftest import materialize

    from matassets.assets.phase1 import SCHNET, property_model_asset
    from matassets.paths import Layout

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MATASSETS_THREADS", "1")
        result = materialize([property_model_asset(SCHNET, "formation_energy")], smoke_copy)
    assert result.success
    layout = Layout(smoke_copy)
    folder = layout.model_dir("schnet_formation_energy", "smoke")
    if folder.is_dir():  # promoted
        trained = folder
    else:  # kept as a candidate that failed its check
        (trained,) = (layout.root / "models" / "schnet_formation_energy" / "candidates").iterdir()
    record = json.loads((trained / "run_record.json").read_text())
    assert record["algorithm"] == "schnet" and record["command"].endswith("--property formation_energy")
    config = json.loads((trained / "config.json").read_text())
    assert config["architecture"]["family"] == "schnet"
    metrics = json.loads((trained / "metrics.json").read_text())["test"]["formation_energy"]
    assert metrics["n"] > 0 and np.isfinite(metrics["mae"]) and metrics["baseline_mad"] > 0
    check = result.get_asset_check_evaluations()[0]
    assert check.check_name == "beats_mean_baseline" and check.passed == folder.is_dir()
