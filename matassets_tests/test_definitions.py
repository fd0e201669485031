import subprocess
import sys

import pytest

from matassets.levels import PARTITIONS


def test_definitions_load_with_six_partitions_everywhere():
    from matassets.definitions import defs

    assets = list(defs.resolve_asset_graph().get_all_asset_keys())
    names = {k.to_user_string() for k in assets}
    assert {
        "raw_structures",
        "structures",
        "splits",
        "crystal_graphs",
        "cgcnn_formation_energy",
        "cgcnn_band_gap",
    } <= names
    for assets_def in defs.assets:
        if assets_def.partitions_def is None:  # reports read every partition's files (model_leaderboard)
            assert assets_def.group_names_by_key[assets_def.key] == "reports", assets_def.key
            continue
        assert list(assets_def.partitions_def.get_partition_keys()) == list(PARTITIONS)


@pytest.mark.slow
def test_dagster_validates_the_code_location():
    out = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "matassets.definitions"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.slow
def test_heavy_libraries_are_not_imported_at_load():
    code = (
        "import sys, matassets.definitions; "
        "print(sorted(m for m in ('torch', 'mace', 'e3nn', 'torch_geometric') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_preset_choice_is_an_enum_in_every_model_config_and_reaches_the_preset_as_text():
    """The launchpad offers a Literal preset field's values (Dagster refuses another before the
    run); the preset the run trains with holds the plain string, as its record and input key need."""
    import json
    import typing

    from matassets.assets.phase1 import TrainOverrides
    from matassets.definitions import defs
    from matassets.levels import CGCNN, TrainPreset

    literals = {
        name: typing.get_args(hint)
        for name, hint in typing.get_type_hints(TrainPreset).items()
        if typing.get_origin(hint) is typing.Literal
    }
    assert "device" in literals and "scheduler" in literals
    seen = set()
    for assets_def in defs.assets:
        fields = getattr(assets_def.op.config_field and assets_def.op.config_field.config_type, "fields", {})
        for name, values in literals.items():
            if name in fields:
                kind = fields[name].config_type.inner_type  # optional: None keeps the preset's
                assert kind.kind.name == "ENUM", (assets_def.key, name)
                assert tuple(v.config_value for v in kind.enum_values) == values
                seen.add(assets_def.key.to_user_string())
    assert {"cgcnn_band_gap", "multitask_e3nn", "mace_potential", "topo_classifier_gnn"} <= seen
    preset, changes, _ = TrainOverrides(device="cpu", scheduler="plateau").apply(CGCNN["smoke"])
    assert type(preset.device) is str and type(preset.scheduler) is str
    assert json.loads(json.dumps(changes)) == changes == {"device": "cpu", "scheduler": "plateau"}


def test_the_data_and_tuning_jobs_offer_their_choices_in_the_launchpad():
    import dagster as dg

    from matassets.assets.data import RawSourceConfig
    from matassets.automation.tuning_runs import tuning_job
    from matassets.data.sources import SOURCES
    from matassets.families import PHASES

    start = tuning_job.graph.node_defs[0]
    for config, name, values in (
        (start.config_field, "phase", (*PHASES, "all")),
        (start.config_field, "level", PARTITIONS),
        (RawSourceConfig.to_config_schema().as_field(), "source", SOURCES),
    ):
        kind = config.config_type.fields[name].config_type
        assert kind.kind.name == "ENUM" and tuple(v.config_value for v in kind.enum_values) == values
    with pytest.raises(dg.DagsterInvalidConfigError, match="not in enum type"):
        dg.validate_run_config(tuning_job, {"ops": {start.name: {"config": {"level": "huge"}}}})
