"""The model-lifecycle commands on a registered data set's model (``--dataset NAME``): ``lineage``
back to the data set's own table, ``--export``/``--verify``, ``history``, ``promote``, ``reject``,
``checkout`` and ``push``/``pull`` of its DVC stages (``tiny-<asset>``). On a git + DVC copy of
``dataset_smoke`` (data set ``tiny``: 120 real crystals, a promoted smoke CGCNN of ``e_form``) whose
``dvc.yaml`` is written by ``matassets dvc-yaml`` and whose stages are committed; nothing is trained."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from matassets.cli import main
from matassets.paths import Layout
from matassets.training.history import read_history
from matassets.versioning import lock_hashes, run_dvc

MODEL = "models/datasets/tiny/cgcnn_e_form/smoke"
STAGE = "tiny-cgcnn_e_form@smoke"


@pytest.fixture(scope="module")
def repo(dataset_smoke: Path, tmp_path_factory) -> Path:
    from conftest import dvc_project, git

    root = dvc_project(dataset_smoke, tmp_path_factory.mktemp("lifecycle") / "repo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MATASSETS_ROOT", str(root))
        assert main(["dvc-yaml", "--out", str(root / "dvc.yaml")]) == 0
    git(root, "add", "dvc.yaml", "data/datasets/tiny/table.parquet", "data/datasets/tiny/manifest.json")
    git(root, "commit", "-q", "-m", "data set tiny")
    stages = [f"tiny-{a}@smoke" for a in ("raw_structures", "structures", "splits", "crystal_graphs")]
    run_dvc(root, "commit", "--force", "--quiet", *stages, STAGE)
    return root


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_lineage_of_a_data_set_s_model_ends_at_its_own_table(repo: Path, tmp_path: Path, capsys) -> None:
    (locked,) = lock_hashes(repo, STAGE).values()
    args = ("cgcnn_e_form", "--dataset", "tiny", "--level", "smoke", "--root", str(repo))
    code, out, err = _run(capsys, "lineage", *args)
    assert code == 0, err
    assert out.startswith(f"tiny/cgcnn_e_form [smoke]  {MODEL}\n")
    assert f"(dvc.lock: {locked})" in out
    assert "<- data/datasets/tiny/table.parquet" in out and "from source (git)" in out
    assert "<- data/datasets/tiny/structures/smoke/structures.parquet" in out
    assert "from tiny-structures@smoke" in out and "CHANGED" not in out

    code, out, _ = _run(capsys, "lineage", *args, "--json")
    chain = json.loads(out)
    assert chain["model"]["dvc_md5_locked"] == chain["model"]["dvc_md5_now"] == locked
    paths = [node["path"] for node in chain["upstream"]]
    assert "data/datasets/tiny/table.parquet" in paths
    assert all(p.startswith("data/datasets/tiny/") for p in paths)  # D's own files, none of the embedded
    assert chain["checks"]["same split"] is True  # D's split manifest, not the embedded set's

    bundle = tmp_path / "bundle"
    code, _, err = _run(capsys, "lineage", *args, "--export", str(bundle))
    assert code == 0, err
    assert (bundle / "model" / "model.pt").read_bytes() == (repo / MODEL / "model.pt").read_bytes()
    assert _run(capsys, "lineage", "--verify", str(bundle))[0] == 0

    # without --dataset the name is the embedded set's, which has no such model: a clear error
    code, _, err = _run(capsys, "lineage", "cgcnn_e_form", "--level", "smoke", "--root", str(repo))
    assert code == 2 and "no trained model in" in err and "models/cgcnn_e_form/smoke" in err
    code, _, err = _run(capsys, "lineage", "cgcnn_e_form", "--dataset", "nope", "--root", str(repo))
    assert code == 2 and "no data set 'nope'; registered: embedded, mlearn, topo_labels, tiny" in err


def test_a_data_set_s_model_shows_its_lineage_table_in_the_ui(repo: Path, monkeypatch) -> None:
    """Re-materialized through Dagster (the up-to-date model reused, nothing trained), the model's
    metadata carries the same chain as ``matassets lineage --dataset tiny``."""
    from conftest import materialize

    from matassets.assets.datasets import dataset_assets
    from matassets.reports.lineage import lineage_table, model_lineage

    monkeypatch.setenv("MATASSETS_THREADS", "1")
    (model,) = [a for a in dataset_assets("tiny", repo) if a.key.to_user_string() == "tiny/cgcnn_e_form"]
    result = materialize([model], repo)
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    chain = model_lineage(repo, "cgcnn_e_form", "smoke", "tiny")
    assert meta["lineage"].value == lineage_table(chain)
    assert f"| {MODEL} |" in meta["lineage"].value
    assert "files under `data/datasets/tiny/`" in meta["lineage"].value  # named once, then
    assert "| table.parquet |" in meta["lineage"].value  # each file under it
    assert meta["lineage (json)"].value["model"]["asset"] == "tiny/cgcnn_e_form"


def test_promote_reject_checkout_and_push_pull_act_on_the_data_set_s_model(
    repo: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("MATASSETS_ROOT", str(repo))
    layout = Layout(repo).for_dataset("tiny")
    final = layout.model_dir("cgcnn_e_form", "smoke")
    where = ("cgcnn_e_form", "--dataset", "tiny", "--level", "smoke")
    code, out, _ = _run(capsys, "history", *where)
    assert code == 0 and "e_form mae" in out
    assert _run(capsys, "history", "cgcnn_e_form", "--level", "smoke")[0] == 1  # not an embedded model

    # promote a candidate: D's model folder changes, D's DVC stage is committed, D's history grows
    (before,) = lock_hashes(repo, STAGE).values()
    candidate = layout.candidate_dir("cgcnn_e_form", "smoke", "by-hand")
    shutil.copytree(final, candidate)
    code, out, err = _run(capsys, "promote", *where, "--reason", "checked by hand")
    assert code == 0, err
    assert json.loads((final / "run_record.json").read_text())["promoted_from"] == str(candidate)
    (after,) = lock_hashes(repo, STAGE).values()
    assert after != before and f"dvc {after}" in out
    history = read_history(layout, "cgcnn_e_form", "smoke")
    assert [e.get("version") for e in history] == [1, 2] and history[-1]["dvc_md5"] == after
    assert not (repo / "models" / "cgcnn_e_form").exists()  # nothing in the embedded set's folders

    # reject the next one: recorded, the current model unchanged
    shutil.copytree(final, layout.candidate_dir("cgcnn_e_form", "smoke", "other"))
    assert _run(capsys, "reject", *where, "--reason", "no")[0] == 0
    assert read_history(layout, "cgcnn_e_form", "smoke")[-1]["event"] == "rejected"
    assert lock_hashes(repo, STAGE) == {MODEL: after}

    # check out version 2 again from DVC's cache: version 3, committed to D's stage
    code, out, err = _run(capsys, "checkout", *where, "--version", "2")
    assert code == 0, err
    assert "version 2 restored as version 3 of tiny/cgcnn_e_form [smoke]" in out
    versions = [e["version"] for e in read_history(layout, "cgcnn_e_form", "smoke") if "version" in e]
    assert versions == [1, 2, 3]
    (third,) = lock_hashes(repo, STAGE).values()

    # push D's stages only, then restore the lost model from the remote
    code, out, _ = _run(capsys, "push", "--dataset", "tiny", "--level", "smoke")
    assert code == 0 and "dvc push tiny-raw_structures@smoke" in out and STAGE in out
    code, out, _ = _run(capsys, "push", "--dataset", "embedded")
    assert code == 0 and "records no matching stage: nothing to push" in out
    shutil.rmtree(repo / ".dvc" / "cache")
    weights = (final / "model.pt").read_bytes()
    (final / "model.pt").unlink()
    code, out, err = _run(capsys, "pull", "--dataset", "tiny", "--asset", "cgcnn_e_form")
    assert code == 0, err
    assert out.startswith(f"dvc pull --allow-missing {STAGE}\n")
    assert (final / "model.pt").read_bytes() == weights and lock_hashes(repo, STAGE) == {MODEL: third}
    code, _, err = _run(capsys, "pull", "--dataset", "nope")
    assert code == 2 and "no data set 'nope'" in err


@pytest.mark.parametrize("letters", [20, 40])
def test_a_long_data_set_name_s_lineage_table_fits_inline(repo: Path, letters: int) -> None:
    """The chain of ``tiny``'s model as a data set of a 20- (and the longest allowed, 40-) letter name
    would have it: its Markdown table stays under the 1,000 characters Dagster draws inline, names the
    data set's folders once, and keeps every file, hash and producing stage of the chain."""
    from matassets.reports.lineage import lineage_table, model_lineage

    name = "n" * letters
    chain = json.loads(json.dumps(model_lineage(repo, "cgcnn_e_form", "smoke", "tiny")).replace("tiny", name))
    table = lineage_table(chain)
    assert len(table) < 1000, len(table)
    assert table.count(name) == 3  # the model's folder, and once above the table for the rest
    assert f"`data/datasets/{name}/`" in table and f"`{name}-<from>@smoke`" in table
    assert f"| models/datasets/{name}/cgcnn_e_form/smoke |" in table and "| table.parquet |" in table
    for node in chain["upstream"]:
        relative = node["path"].removeprefix(f"data/datasets/{name}/")
        assert f"| {relative} | {node['dvc_md5_now'][:12]} |" in table
        producer = node["produced_by"].removeprefix(f"{name}-").removesuffix("@smoke")
        assert table.count(f"| {producer} |") >= 1
