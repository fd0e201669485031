"""The cluster deployment files in deploy/ stay loadable (docs/deploy.md).

Dagster validates every dagster.yaml against its instance schema here (the run launcher's own
config against dagster-k8s and the Celery run config against dagster-celery, installed by `make
install`; a checkout without them skips those two). The multiprocess one is also turned into a real
instance; test_cluster_live.py runs the PostgreSQL one against a real server.
"""

import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DAGSTER_DIR = ROOT / "deploy/dagster"
HELM_VALUES = ROOT / "deploy/helm/values.yaml"

# documented keys of a dagster-k8s/config tag and of K8sRunLauncher.run_k8s_config
K8S_CONFIG_KEYS = {
    "container_config",
    "pod_spec_config",
    "pod_template_spec_metadata",
    "job_spec_config",
    "job_metadata",
}
CELERY_EXECUTOR_KEYS = {"broker", "backend", "include", "config_source", "retries"}


def load(name: str) -> dict:
    return yaml.safe_load((DAGSTER_DIR / name).read_text())


def one_box_limits() -> list:
    one_box = yaml.safe_load((ROOT / "docs/dagster.yaml").read_text())
    return one_box["concurrency"]["runs"]["tag_concurrency_limits"]


def validate_with_dagster(config: dict, tmp_path: Path) -> dict:
    """Dagster's own instance-config validation, as `DagsterInstance.get()` runs it on $DAGSTER_HOME."""
    from dagster._core.instance.config import dagster_instance_config

    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    validated, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    return validated


@pytest.mark.parametrize("name", ["multiprocess.yaml", "k8s.yaml", "celery.yaml", "postgres.yaml"])
def test_each_dagster_yaml_passes_dagsters_instance_schema(name, tmp_path):
    config = load(name)
    validated = validate_with_dagster(config, tmp_path)
    assert validated["telemetry"] == {"enabled": False}
    assert validated["run_coordinator"]["class"] == "QueuedRunCoordinator"
    # the per-level and per-tuning-session limits of the one-machine example hold everywhere
    assert config["concurrency"]["runs"]["tag_concurrency_limits"] == one_box_limits()


def test_a_broken_dagster_yaml_is_rejected(tmp_path):
    from dagster._core.errors import DagsterInvalidConfigError

    config = load("multiprocess.yaml")
    config["run_monitoring"]["max_runtime_seconds"] = "one day"
    with pytest.raises(DagsterInvalidConfigError):
        validate_with_dagster(config, tmp_path)


def test_multiprocess_yaml_makes_a_queued_instance():
    from dagster._core.test_utils import instance_for_test

    config = load("multiprocess.yaml")
    with instance_for_test(overrides=config) as instance:
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        concurrency = instance.get_concurrency_config()
        assert concurrency.run_queue_config.max_concurrent_runs == 2
        assert concurrency.run_queue_config.tag_concurrency_limits == one_box_limits()
        assert concurrency.pool_config.default_pool_limit == 1
        assert instance.run_monitoring_enabled


def test_k8s_yaml_has_the_k8s_run_launchers_required_fields():
    config = load("k8s.yaml")
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    launcher_config = launcher["config"]
    assert launcher_config["instance_config_map"]  # the one field K8sRunLauncher requires
    assert {"DAGSTER_DISABLE_TELEMETRY=1", "DVC_NO_ANALYTICS=1"} <= set(launcher_config["env_vars"])
    assert set(launcher_config["run_k8s_config"]) <= K8S_CONFIG_KEYS
    # MATASSETS_ROOT is on the volume every run pod mounts
    assert {m["mount_path"] for m in launcher_config["volume_mounts"]} == {"/state"}
    assert "MATASSETS_ROOT=/state" in launcher_config["env_vars"]
    # every pod of a run must see the same runs and event logs: not the default sqlite
    assert set(config["storage"]) == {"postgres"}


def test_celery_yaml_and_its_executor_run_config():
    config = load("celery.yaml")
    assert config["run_launcher"]["class"] == "DefaultRunLauncher"
    assert set(config["storage"]) == {"postgres"}
    executor = yaml.safe_load((DAGSTER_DIR / "celery_executor.yaml").read_text())["execution"]["config"]
    assert set(executor) == {"celery"}  # the celery mode of matassets' executor
    assert set(executor["celery"]) <= CELERY_EXECUTOR_KEYS
    # broker and backend come from the environment of the run and of the workers: no URL stored
    assert not {"broker", "backend"} & set(executor["celery"])
    assert "matassets.definitions" in executor["celery"]["include"]


@pytest.mark.filterwarnings("ignore:Found version mismatch")  # 0.29.27 beside dagster 1.13.28
def test_k8s_launcher_config_against_dagster_k8s():
    if importlib.util.find_spec("dagster_k8s") is None:
        pytest.skip("dagster-k8s is not installed; k8s.yaml's structure is checked above")
    from dagster._config import validate_config
    from dagster_k8s import K8sRunLauncher

    result = validate_config(K8sRunLauncher.config_type(), load("k8s.yaml")["run_launcher"]["config"])
    assert result.success, result.errors
    # the launcher's own parser reads the phase jobs' dagster-k8s/config tags
    from dagster_k8s.job import get_user_defined_k8s_config

    from matassets.definitions import defs

    parsed = get_user_defined_k8s_config(defs.resolve_job_def("phase2_job").tags)
    assert parsed.container_config["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_celery_executor_config_against_dagster_celery():
    if importlib.util.find_spec("dagster_celery") is None:
        pytest.skip("dagster-celery is not installed; the run config's keys are checked above")
    from dagster._config import validate_config
    from dagster._core.system_config.objects import ResolvedRunConfig

    from matassets.definitions import defs
    from matassets.deploy.executor import celery_executor, import_dagster_celery

    dagster_celery = import_dagster_celery()
    run_config = yaml.safe_load((DAGSTER_DIR / "celery_executor.yaml").read_text())
    celery = run_config["execution"]["config"]["celery"]
    # each key means what it means to dagster-celery's own executor
    result = validate_config(dagster_celery.celery_executor.config_schema.config_type, celery)
    assert result.success, result.errors
    # the phase jobs take it, and it makes dagster-celery's executor
    for group in ("data", "phase1", "phase4"):
        ResolvedRunConfig.build(defs.resolve_job_def(f"{group}_job"), run_config)
    assert isinstance(celery_executor(celery), dagster_celery.CeleryExecutor)


def test_phase_jobs_carry_their_resource_needs_for_kubernetes():
    from matassets.definitions import defs
    from matassets.families import DATA_GROUP, FAMILIES, PHASES, group_resources
    from matassets.jobs import K8S_CONFIG_TAG

    for group in (DATA_GROUP, *PHASES):
        size = group_resources(group)
        tag = json.loads(defs.resolve_job_def(f"{group}_job").tags[K8S_CONFIG_TAG])
        assert tag == size.k8s_config()
        assert set(tag) <= K8S_CONFIG_KEYS
        resources = tag["container_config"]["resources"]
        assert resources["requests"] == {"cpu": size.cpu, "memory": size.memory}
        assert resources["limits"]["memory"] == size.memory
        assert re.fullmatch(r"\d+(Mi|Gi)", size.memory)
        assert resources["limits"].get("nvidia.com/gpu") == (str(size.gpus) if size.gpus else None)
        # a phase job is at least as large as each of its families
        for row in FAMILIES:
            if row.phase == group:
                assert row.resources.gpus <= size.gpus and float(row.resources.cpu) <= float(size.cpu)
    # data preparation holds no GPU; every training group asks for one
    assert group_resources(DATA_GROUP).gpus == 0
    assert all(group_resources(g).gpus == 1 for g in PHASES)
    # a group not in the table gets the launcher's default size (deploy/dagster/k8s.yaml), no GPU
    default = load("k8s.yaml")["run_launcher"]["config"]["run_k8s_config"]["container_config"]
    assert group_resources("a_new_group").k8s_config()["container_config"] == default


def test_helm_values_deploy_the_matassets_image_and_code_location():
    values = yaml.safe_load(HELM_VALUES.read_text())
    user = values["dagster-user-deployments"]
    assert user["enabled"] is True
    (deployment,) = user["deployments"]
    assert deployment["image"]["repository"] and deployment["image"]["tag"]
    assert isinstance(deployment["image"]["tag"], str)  # a bare 0.1 would be a float
    args = deployment["dagsterApiGrpcArgs"]
    assert args[args.index("--module-name") + 1] == "matassets.definitions"
    assert importlib.util.find_spec("matassets.definitions") is not None
    env = {item["name"]: item.get("value") for item in deployment["env"]}
    assert env["DAGSTER_DISABLE_TELEMETRY"] == "1" and env["DVC_NO_ANALYTICS"] == "1"
    # the state every run pod shares: MATASSETS_ROOT on a mounted volume
    mounts = {m["mountPath"]: m["name"] for m in deployment["volumeMounts"]}
    assert mounts[env["MATASSETS_ROOT"]] in {v["name"] for v in deployment["volumes"]}
    assert {"name": "matassets-dvc-remote"} in deployment["envSecrets"]
    assert deployment["resources"]["requests"]["memory"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    coordinator = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert coordinator["tagConcurrencyLimits"] == one_box_limits()
    # the chart's DAGSTER_HOME is the image's (Dockerfile)
    assert f"DAGSTER_HOME={values['global']['dagsterHome']}" in (ROOT / "Dockerfile").read_text()
