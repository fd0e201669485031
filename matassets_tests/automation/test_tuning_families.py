"""Every model family can be tuned: rounds of the random forest, TopoGNN and the e3nn models train on
the real smoke data into their candidate folders and never touch the asset's current version; a
promoted round is committed to DVC like any materialization."""

import json
import shutil

import dagster as dg
import pytest
from conftest import dvc_project, materialize, trained_models

from matassets.assets.resources import ProjectResource
from matassets.automation.tuning.knobs import MOVES
from matassets.automation.tuning.session import TuningSession
from matassets.io import sha256_file
from matassets.levels import PARTITIONS, TOPO_RF
from matassets.paths import Layout


def model_assets() -> list[dg.AssetsDefinition]:
    from matassets.definitions import defs

    return [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]


def digest(folder) -> dict[str, str]:
    """Every file of a folder and its hash (empty when the folder does not exist)."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def root(smoke_root, tmp_path_factory):
    """A copy of the smoke data with the current version of the models the rounds below tune."""
    from matassets.assets.phase2 import multitask_e3nn
    from matassets.assets.phase4_topo import topo_classifier_gnn, topo_classifier_rf, topo_db

    out = tmp_path_factory.mktemp("families")
    shutil.copytree(smoke_root / "data", out / "data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MATASSETS_THREADS", "1")
        for assets in ([topo_db], [topo_classifier_rf, topo_classifier_gnn], [multitask_e3nn]):
            assert materialize(assets, out).success
    return out


def run_rounds(session: TuningSession, project: ProjectResource, instance) -> list[dg.AssetMaterialization]:
    """Each round as a Dagster materialization; before a round is recorded (which may promote the
    best one) the asset's current version must be exactly as it was and the candidate complete."""
    from matassets.automation.tuning_runs import materialize_round

    layout = session.layout
    current = {t.asset: digest(layout.model_dir(t.asset, session.partition)) for t in session.targets}
    events = []
    plan = session.first_plan()
    while plan is not None:
        run_id, code, seconds = materialize_round(plan, model_assets(), {"project": project}, instance)
        assert code == 0, f"{plan.asset} round {plan.round} failed"
        assert digest(layout.model_dir(plan.asset, session.partition)) == current[plan.asset]
        candidate = session.candidate_dir(plan)
        record = json.loads((candidate / "run_record.json").read_text())
        assert record["output_dir"] == str(candidate) and (candidate / "metrics.json").exists()
        events.append(
            instance.get_latest_materialization_event(dg.AssetKey(plan.asset)).asset_materialization
        )
        plan = session.record(plan, run_id, code, seconds).next
    return events


def check_promotion(session: TuningSession, asset: str, before: dict[str, str]) -> None:
    """The current version is the best round's files if it was promoted, else untouched."""
    target = session.target(asset)
    current = session.layout.model_dir(asset, session.partition)
    if target.promoted:
        best = session.layout.tuning_model_dir(asset, f"{session.session}/round_{target.best_round}")
        model = next(p.name for p in best.iterdir() if p.suffix in (".pt", ".skops"))
        assert sha256_file(current / model) == sha256_file(best / model)
        assert json.loads((current / "run_record.json").read_text())["tuning_round"] == target.best_round
    else:
        assert "does not beat the current" in target.promotion_reason
        assert digest(current) == before


def test_every_model_asset_is_tunable_at_every_level():
    """Each asset that trains a model has a family, a preset row and a config with output_tag."""
    from matassets.automation.tuning.targets import resolve_targets
    from matassets.automation.tuning_runs import config_fields
    from matassets.families import FAMILIES

    assets = model_assets()
    models = trained_models()
    assert {"multitask_e3nn", "mace_potential", "topo_classifier_gnn", "topo_classifier_rf"} < models
    outside = {f.algorithm for f in FAMILIES if not f.runbook}  # tuned when named (SchNet)
    for level in PARTITIONS:
        targets, skipped = resolve_targets("all", level, config_fields(assets))
        assert all("not a runbook family" in s for s in skipped) and len(skipped) == len(outside), level
        named = [t for a in outside for t in resolve_targets("all", level, config_fields(assets), None, a)[0]]
        assert {t.asset for t in [*targets, *named]} == models, level


@pytest.mark.slow
def test_phase4_rounds_write_candidates_only(root):
    """Two rounds each of the random forest and TopoGNN (`matassets tune --phase phase4`)."""
    from matassets.automation.tuning_runs import config_fields

    layout = Layout(root)
    project = ProjectResource(root=str(root))
    assets = ("topo_classifier_rf", "topo_classifier_gnn")
    before = {a: digest(layout.model_dir(a, "smoke")) for a in assets}
    current_rf = json.loads((layout.model_dir(assets[0], "smoke") / "metrics.json").read_text())
    session = TuningSession.create(
        layout, "phase4", "smoke", 2, config_fields(model_assets()), measure_noise=False, session="p4"
    )
    assert [t.asset for t in session.targets] == ["topo_classifier_gnn", "topo_classifier_rf"]
    events = run_rounds(session, project, dg.DagsterInstance.ephemeral())
    assert [e.metadata["tuning candidate"].value for e in events] == [f"p4/round_{n}" for n in (1, 2, 1, 2)]
    rows = {(r["asset"], r["round"]): r for r in session.rows}
    assert len(rows) == 4 and all(r["return_code"] == 0 for r in rows.values())
    rf1, rf2 = rows["topo_classifier_rf", 1], rows["topo_classifier_rf", 2]
    preset = TOPO_RF["smoke"]
    assert rf1["params_in"] == {
        "n_estimators": preset.n_estimators,
        "max_depth": preset.max_depth,
        "min_samples_leaf": preset.min_samples_leaf,
    }
    assert rf2["move"] in MOVES and rf2["params_in"] != rf1["params_in"]
    # the forest is deterministic: round 1 (the preset) scores exactly as the current version
    val = current_rf["val"]["topo_label"]["balanced_accuracy"]
    assert rf1["score"] == pytest.approx(1 - val)
    config = json.loads((layout.tuning_model_dir(assets[0], "p4/round_2") / "config.json").read_text())
    assert {k: config["preset"][k] for k in rf2["params_in"]} == rf2["params_in"]
    assert session.target(assets[0]).promoted == (rf2["score"] < rf1["score"])
    for asset in assets:
        check_promotion(session, asset, before[asset])


@pytest.mark.slow
def test_e3nn_rounds_write_candidates_only(root):
    """multitask_e3nn: the preset, then the same with training seed + 1 (the noise round); then one
    round of a specialist, warm-started from the current multitask model."""
    from matassets.automation.tuning_runs import config_fields

    layout = Layout(root)
    project = ProjectResource(root=str(root))
    available = config_fields(model_assets())
    before = digest(layout.model_dir("multitask_e3nn", "smoke"))
    session = TuningSession.create(layout, "phase2", "smoke", 2, available, measure_noise=True, session="e3")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MATASSETS_THREADS", "1")
        run_rounds(session, project, dg.DagsterInstance.ephemeral())
        records = [
            json.loads(
                (layout.tuning_model_dir("multitask_e3nn", f"e3/round_{n}") / "run_record.json").read_text()
            )
            for n in (1, 2)
        ]
        assert [r["seed"] for r in records] == [42, 43]  # the seed run option reaches the trainer
        assert records[1]["overrides"] == {}  # the seed is a run option, not a preset change
        assert [r["move"] for r in session.rows] == ["preset", "repeat_seed"]
        check_promotion(session, "multitask_e3nn", before)

        prop = "specialist_formation_energy"
        specialist = TuningSession.create(
            layout,
            "phase3",
            "smoke",
            1,
            available,
            prop="formation_energy",
            session="sp",
            start={"epochs": 1},
        )
        assert [t.asset for t in specialist.targets] == [prop]  # MACE has no property
        run_rounds(specialist, project, dg.DagsterInstance.ephemeral())
    record = json.loads((layout.tuning_model_dir(prop, "sp/round_1") / "run_record.json").read_text())
    assert record["overrides"] == {"epochs": 1} and record["options"]["output_tag"] == "sp/round_1"
    assert record["warm_start"]["source"] == str(layout.model_dir("multitask_e3nn", "smoke"))
    assert specialist.target(prop).promoted  # no current version of the specialist existed
    assert sha256_file(layout.model_dir(prop, "smoke") / "model.pt") == sha256_file(
        layout.tuning_model_dir(prop, "sp/round_1") / "model.pt"
    )


@pytest.mark.slow
def test_promoted_round_is_committed_to_dvc(root, tmp_path):
    """In a git + DVC project the promotion commits the new current version (dvc.lock) and its DVC
    hash is the data version of the promotion's materialization, as for any materialization."""
    from matassets.automation.tuning_runs import config_fields, run_session_in_process
    from matassets.versioning import dvc_md5, lock_hashes, run_dvc

    repo = dvc_project(root, tmp_path / "repo")
    asset = "topo_classifier_rf"
    layout = Layout(repo)
    shutil.rmtree(layout.model_dir(asset, "smoke"))  # no current version: the round is promoted
    project = ProjectResource(root=str(repo))
    assert project.dvc_enabled
    available = {asset: config_fields(model_assets())[asset]}
    session = TuningSession.create(layout, "phase4", "smoke", 1, available, session="dvc")
    instance = dg.DagsterInstance.ephemeral()
    run_session_in_process(session, model_assets(), {"project": project}, instance, log=lambda m: None)
    assert session.target(asset).promoted
    current = layout.model_dir(asset, "smoke")
    version = lock_hashes(repo, f"{asset}@smoke")[f"models/{asset}/smoke"]
    assert version == dvc_md5(current)
    event = instance.get_latest_materialization_event(dg.AssetKey(asset)).asset_materialization
    assert event.tags["matassets/tuning_session"] == "dvc"
    assert event.tags["dagster/data_version"] == version
    assert event.metadata["dvc_md5"].value == version
    assert json.loads(run_dvc(repo, "status", "--json", f"{asset}@smoke").stdout) == {}
