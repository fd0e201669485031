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
