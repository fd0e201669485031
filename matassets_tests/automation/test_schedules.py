"""Schedules and data sensors: defined, off by default, and requesting exactly the right runs."""

import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml

from matassets.assets.resources import ProjectResource

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "matassets_tests/fixtures/jarvis_samples/sample_data"


@pytest.fixture(scope="module")
def defs():
    from matassets.definitions import defs

    return defs


def test_schedules_and_sensors_exist_and_are_off_until_turned_on(defs):
    schedules = {s.name: s for s in defs.schedules}
    sensors = {s.name: s for s in defs.sensors}
    assert set(schedules) == {"weekly_std_retrain", "nightly_smoke"}
    assert {
        "tuning_round_sensor",
        "tuning_failure_sensor",
        "incoming_data_sensor",
        "std_data_change_sensor",
    } <= set(sensors)
    for item in [*schedules.values(), *sensors.values()]:
        assert item.default_status.value == "STOPPED", item.name
    assert schedules["weekly_std_retrain"].cron_schedule == "0 3 * * 0"
    assert schedules["weekly_std_retrain"].job_name == "std_retrain_job"
    assert schedules["nightly_smoke"].job_name == "nightly_smoke_job"


def test_schedules_request_their_level_with_its_time_limit(defs):
    import datetime as dt

    from matassets.automation.schedules import nightly_smoke, weekly_std_retrain
    from matassets.levels import RUN_TIME_LIMIT_S

    when = dt.datetime(2026, 11, 29, 3, 0, tzinfo=dt.UTC)
    context = dg.build_schedule_context(scheduled_execution_time=when)
    weekly = weekly_std_retrain(context)
    assert weekly.partition_key == "std" and weekly.run_key == "weekly-std-20261129"
    assert weekly.tags["dagster/max_runtime"] == str(RUN_TIME_LIMIT_S["std"])
    nightly = nightly_smoke(context)
    assert nightly.partition_key == "smoke"
    everything = defs.resolve_job_def("nightly_smoke_job").asset_layer.selected_asset_keys
    assert everything == set(defs.resolve_asset_graph().get_all_asset_keys())


def test_incoming_file_sensor_requests_raw_structures_from_the_files(tmp_path):
    from matassets.automation.sensors import incoming_data_sensor

    project = ProjectResource(root=str(tmp_path))
    context = dg.build_sensor_context(resources={"project": project})
    assert isinstance(incoming_data_sensor(context), dg.SkipReason)
    incoming = tmp_path / "data/incoming"
    incoming.mkdir(parents=True)
    (incoming / "half-copied.cif.part").write_text("data_")
    assert isinstance(incoming_data_sensor(context), dg.SkipReason)

    shutil.copy(SAMPLES / "POSCAR-JVASP-10.vasp", incoming)
    request = incoming_data_sensor(context)
    assert isinstance(request, dg.RunRequest) and request.partition_key == "std"
    config = request.run_config["ops"]["raw_structures"]["config"]
    assert config == {"source": "files", "path": str(incoming)}
    assert context.cursor and request.run_key == f"incoming-{context.cursor}"
    assert isinstance(incoming_data_sensor(context), dg.SkipReason)  # nothing new

    shutil.copy(SAMPLES / "POSCAR-JVASP-1372.vasp", incoming)
    again = incoming_data_sensor(context)
    assert isinstance(again, dg.RunRequest) and again.run_key != request.run_key

    # one table on its own is read as a table
    for f in incoming.iterdir():
        f.unlink()
    (incoming / "crystals.csv").write_text("id,structure,formation_energy\n")
    table = incoming_data_sensor(context)
    assert table.run_config["ops"]["raw_structures"]["config"]["path"] == str(incoming / "crystals.csv")


def report(instance, asset, partition, version, tags=None):
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=asset,
            partition=partition,
            tags={"dagster/data_version": version, **(tags or {})},
        )
    )
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    return records[0].storage_id


def test_new_std_data_version_retrains_exactly_the_std_assets_downstream(defs):
    from matassets.automation.sensors import std_data_change_sensor

    instance = dg.DagsterInstance.ephemeral()
    context = dg.build_sensor_context(instance=instance)
    assert isinstance(std_data_change_sensor(context), dg.SkipReason)
    report(instance, "raw_structures", "smoke", "s1")
    assert isinstance(std_data_change_sensor(context), dg.SkipReason)  # another level

    event = report(instance, "raw_structures", "std", "v1")
    request = std_data_change_sensor(context)
    assert isinstance(request, dg.RunRequest) and request.partition_key == "std"
    assert request.run_key == f"std-data-v1-{event}"
    assert isinstance(std_data_change_sensor(context), dg.SkipReason)  # already requested

    # the run it requests: every asset downstream of raw_structures, and nothing else
    graph = defs.resolve_asset_graph()
    selected = defs.resolve_job_def("std_retrain_job").asset_layer.selected_asset_keys
    downstream = set()
    frontier = {dg.AssetKey("raw_structures")}
    while frontier:
        frontier = {c for k in frontier for c in graph.get(k).child_keys} - downstream
        downstream |= frontier
    assert selected == downstream
    names = {k.to_user_string() for k in selected}
    assert {"structures", "splits", "crystal_graphs", "cgcnn_formation_energy"} <= names
    assert "raw_structures" not in names

    # once std's structures are built from v1 nothing is requested; a new version requests again
    pointer = {"dagster/input_event_pointer/raw_structures": str(event)}
    report(instance, "structures", "std", "c1", pointer)
    fresh = dg.build_sensor_context(instance=instance)
    assert "built from data version v1" in std_data_change_sensor(fresh).skip_message
    report(instance, "raw_structures", "std", "v2")
    assert std_data_change_sensor(fresh).run_key.startswith("std-data-v2-")


def test_example_dagster_yaml_loads_with_the_concurrency_limits():
    from dagster._core.test_utils import instance_for_test

    config = yaml.safe_load((ROOT / "docs/dagster.yaml").read_text())
    with instance_for_test(overrides=config) as instance:
        concurrency = instance.get_concurrency_config()
        limits = concurrency.run_queue_config.tag_concurrency_limits
        assert {
            "key": "dagster/partition",
            "limit": 1,
            "value": {"applyLimitPerUniqueValue": True},
        } in limits
        assert concurrency.pool_config.default_pool_limit == 1
        assert instance.run_monitoring_enabled
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
