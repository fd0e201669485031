"""What a trained model says about where it came from, through Dagster on a real smoke training in a
git + DVC project: the runbook deviations (run record and UI metadata), the lineage table in the UI
metadata, and the docs/benchmarks.md model table written from the locked folder."""

import json

import pytest

from matassets.paths import Layout


@pytest.mark.slow
def test_smoke_model_carries_runbook_deviations_lineage_and_a_locked_benchmark_row(smoke_copy, tmp_path):
    from conftest import dvc_project, materialize

    from matassets.assets.phase1 import cgcnn_asset
    from matassets.reports import benchmarks
    from matassets.reports.lineage import lineage_table, model_lineage
    from matassets.versioning import lock_hashes

    root = dvc_project(smoke_copy, tmp_path / "project")
    config = {"ops": {"cgcnn_band_gap": {"config": {"batch_size": 8}}}}
    result = materialize([cgcnn_asset("band_gap")], root, run_config=config)
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    folder = Layout(root).model_dir("cgcnn_band_gap", "smoke")
    record = json.loads((folder / "run_record.json").read_text())

    # the runbook: smoke CGCNN runs 3 epochs (runbook 2) on 200 crystals (runbook 256); batch 8 was set
    assert record["runbook"]["command"] == "run_phase1.py --level smoke --property P"
    by_field = {d["field"]: d for d in record["runbook"]["deviations"]}
    assert set(by_field) == {"epochs", "data.max_structures", "batch_size"}
    assert by_field["epochs"]["runbook"] == 2 and by_field["epochs"]["ours"] == 3
    assert by_field["batch_size"] == {
        "field": "batch_size",
        "runbook": 16,
        "ours": 8,
        "why": "set for this run",
    }
    assert meta["runbook deviations (json)"].value == record["runbook"]["deviations"]
    assert "| batch_size | 16 | 8 | set for this run |" in meta["runbook deviations"].value
    assert isinstance(record["load_at_start"], float)

    # the lineage: the same chain as `matassets lineage`, inline-sized, naming the locked DVC hash
    (locked,) = lock_hashes(root, "cgcnn_band_gap@smoke").values()
    table = meta["lineage"].value
    assert len(table) < 1000, len(table)
    chain = model_lineage(root, "cgcnn_band_gap", "smoke")
    assert table == lineage_table(chain)
    assert f"| models/cgcnn_band_gap/smoke | {locked[:12]} | {locked[:12]} |" in table
    assert "data/structures/smoke/structures.parquet" in table and result.run_id[:12] in table
    assert meta["lineage (json)"].value["model"]["dvc_md5_locked"] == locked

    # docs/benchmarks.md's model table from the locked folder, and its check against dvc.lock
    rows, skipped = benchmarks.model_rows(root, ["smoke"])
    assert skipped == []
    (row,) = rows
    assert row[0] == "`cgcnn_band_gap`" and row[3].startswith("MAE ") and row[3].endswith(" eV")
    assert row[5:7] == [1, "—"]  # one model: no calibration
    assert row[8].startswith(record["device"])  # where it trained (cpu here; the GPU's name on one)
    assert row[-1] == locked and row[-2].startswith(record["git_sha"][:10])
    page = tmp_path / "benchmarks.md"
    text = benchmarks.write_section(f"# B\n\nprose\n{benchmarks.START}\n{benchmarks.END}\nmore\n", rows, page)
    assert text.startswith("# B\n\nprose\n") and text.endswith("\nmore\n")
    assert benchmarks.check_section(text, root, page) == []
    wrong = text.replace(locked, "0" * 32 + ".dir")
    (problem,) = benchmarks.check_section(wrong, root, page)
    assert "cgcnn_band_gap [smoke]" in problem and "line 7" in problem

    # a folder changed after dvc.lock recorded it gives no row
    (folder / "notes.txt").write_text("edited after the lock\n")
    rows, skipped = benchmarks.model_rows(root, ["smoke"])
    assert rows == [] and "not traceable" in skipped[0]
