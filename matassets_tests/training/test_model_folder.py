"""The one model folder: group-readable atomic files, content hashes checked on every load, provenance
taken at the start of a run, lineage bundles verified on a copy, the history of current versions."""

import json
import os
import shutil
import stat

import pytest
from conftest import git

from matassets.io import atomic_write, write_json
from matassets.paths import Layout
from matassets.training.history import read_history
from matassets.training.model_folder import IntegrityError, ModelFolder, ModelOutput, conclude, verify


def test_atomic_write_gives_the_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_json(tmp_path / "a.json", {"x": 1})
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # mkstemp alone would give 0600
        os.umask(0o077)
        path = atomic_write(tmp_path / "b.txt", lambda tmp: tmp.write_text("b"))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        os.umask(0o002)
        path = atomic_write(tmp_path / "c.txt", lambda tmp: tmp.write_text("c"))
        assert stat.S_IMODE(path.stat().st_mode) == 0o664
    finally:
        os.umask(old)


def _candidate(layout: Layout, metrics: dict, weights: bytes = b"w1") -> ModelOutput:
    folder = ModelFolder(layout, "toy_model", "smoke")
    provenance = folder.begin()
    folder.stage()
    folder.save("model.pt", lambda tmp: tmp.write_bytes(weights))
    folder.write_json("metrics.json", metrics)
    folder.write_rows("history.csv", [{"epoch": 1, "loss": 0.5}])
    record = {"input_key": "k", "partition": "smoke", **provenance, **folder.record_fields()}
    return ModelOutput(folder.commit(record), metrics, record, folder=folder)


def _metrics(mae: float) -> dict:
    m = {"n": 5, "mae": mae, "baseline_mad": 1.0}
    return {"train": {"y": m}, "val": {"y": m}, "test": {"y": m}}


def test_hashes_are_checked_and_a_failed_candidate_leaves_the_current_model(tmp_path):
    from matassets.training.gates import beats_baseline

    layout = Layout(tmp_path)
    good = conclude(_candidate(layout, _metrics(0.5)), [beats_baseline(_metrics(0.5))])
    final = layout.model_dir("toy_model", "smoke")
    assert good.status == "current" and good.model_dir == final and verify(final)
    assert json.loads((final / "decision.json").read_text())["status"] == "promoted"
    before = {p.name: p.read_bytes() for p in final.iterdir()}

    bad = conclude(_candidate(layout, _metrics(2.0), b"w2"), [beats_baseline(_metrics(2.0))])
    assert bad.status == "failed" and "beats_mean_baseline failed" in bad.decision
    assert {p.name: p.read_bytes() for p in final.iterdir()} == before  # byte-identical
    decision = json.loads((bad.model_dir / "decision.json").read_text())
    assert decision["status"] == "failed" and decision["gates"][0]["passed"] is False
    assert bad.model_dir.parent == layout.candidates_root("toy_model") and verify(bad.model_dir)
    assert [e["version"] for e in read_history(layout, "toy_model", "smoke")] == [1]

    (final / "model.pt").write_bytes(b"tampered")
    with pytest.raises(IntegrityError, match=r"model\.pt: content does not match"):
        verify(final)
    (final / "model.pt").write_bytes(b"w1")
    (final / "extra.txt").write_text("x")
    with pytest.raises(IntegrityError, match="extra.txt: not listed"):
        verify(final)


@pytest.mark.slow
def test_commits_during_a_training_make_the_record_not_reproducible(smoke_copy, tmp_path, monkeypatch):
    """Provenance is taken when the run starts; a commit in the code's git checkout while it trains
    makes the record (and the UI) say the model is not reproducible."""
    from test_resume import spec

    from matassets.training.graph_model import train_graph_model

    repo = tmp_path / "code"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "test@example.org")
    git(repo, "config", "user.name", "test")
    (repo / "train.py").write_text("print('v1')\n")
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "v1")
    start_sha = git(repo, "rev-parse", "HEAD").strip()
    monkeypatch.setenv("MATASSETS_CODE_REPO", str(repo))
    layout = Layout(smoke_copy)

    quiet = train_graph_model(layout, spec("provenance_quiet"), log=lambda m: None)
    assert quiet.record["git_sha"] == start_sha and quiet.record["reproducible"] is True

    def commit_during_training(message: str) -> None:
        if message.startswith("epoch 2/"):  # training is under way
            (repo / "train.py").write_text("print('v2')\n")
            git(repo, "commit", "-q", "-am", "v2 while a model trains")

    out = train_graph_model(layout, spec("provenance_moved"), log=commit_during_training)
    record = json.loads((out.model_dir / "run_record.json").read_text())
    assert record["git_sha"] == start_sha  # the commit that started the run, not the one at its end
    assert record["git_at_end"]["git_sha"] != start_sha
    assert record["reproducible"] is False and "git HEAD moved" in record["reproducibility"]


@pytest.mark.slow
def test_lineage_bundle_verifies_on_a_copy_and_history_lists_versions(
    smoke_root, phase1_smoke, tmp_path, capsys
):
    from matassets.cli import main
    from matassets.inference.predict import load_model

    asset = "cgcnn_formation_energy"
    assert main(["lineage", asset, "--level", "smoke", "--root", str(smoke_root)]) == 0
    text = capsys.readouterr().out
    assert "matassets run phase1 --level smoke --property formation_energy" in text
    assert "data/structures/smoke/structures.parquet" in text and "raw_structures.parquet" in text
    assert phase1_smoke.run_id in text

    bundle = tmp_path / "bundle"
    assert (
        main(["lineage", asset, "--level", "smoke", "--root", str(smoke_root), "--export", str(bundle)]) == 0
    )
    copy = tmp_path / "elsewhere"
    shutil.copytree(bundle, copy)
    capsys.readouterr()
    assert main(["lineage", "--verify", str(copy)]) == 0
    provenance = json.loads((copy / "provenance.json").read_text())
    assert provenance["lineage"]["model"]["dagster_run_id"] == phase1_smoke.run_id
    load_model(copy / "model")  # the bundle's model loads

    weights = copy / "model" / "model.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the weights
    weights.write_bytes(bytes(data))
    assert main(["lineage", "--verify", str(copy)]) == 1
    assert "model.pt: content does not match" in capsys.readouterr().out
    with pytest.raises(IntegrityError, match="model.pt"):
        load_model(copy / "model")  # predict refuses it too

    assert main(["history", asset, "--level", "smoke", "--root", str(smoke_root)]) == 0
    out = capsys.readouterr().out
    assert "| 1 |" in out and "formation_energy mae" in out
    (entry,) = read_history(Layout(smoke_root), asset, "smoke")
    assert entry["dagster_run_id"] == phase1_smoke.run_id and entry["files_sha256"]


@pytest.mark.slow
def test_a_changed_model_file_is_refused_by_reuse_not_retrained_or_committed(
    smoke_root, phase1_smoke, tmp_path
):
    """An up-to-date folder whose weights were changed after training: the re-materialization stops
    naming the file (it neither reuses nor silently retrains it, so nothing changed reaches DVC)."""
    from conftest import materialize

    from matassets.assets.phase1 import cgcnn_asset

    root = tmp_path / "copy"
    shutil.copytree(smoke_root / "data", root / "data")
    shutil.copytree(
        smoke_root / "models" / "cgcnn_formation_energy", root / "models" / "cgcnn_formation_energy"
    )
    weights = Layout(root).model_dir("cgcnn_formation_energy", "smoke") / "model.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    result = materialize([cgcnn_asset("formation_energy")], root)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "model.pt: content does not match" in str(failure.step_failure_data.error)
    assert weights.read_bytes() == bytes(data)  # left as found, for a person to look at
