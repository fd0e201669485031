"""kill -9 of a real training process: the previous model version stays byte-for-byte intact and
the next run resumes from the last good checkpoint, also after a kill between a checkpoint's rename
and its digest update (a resume after a clean stop, a corrupted checkpoint and a failed run are
covered in training/test_resume.py)."""

from __future__ import annotations

import hashlib
import json
import signal
import time
from pathlib import Path

import pytest
from train_child import Child, copy_data

from matassets.paths import Layout
from matassets.training.graph_model import train_graph_model

pytestmark = pytest.mark.slow  # kill -9 of a real training process


def tree_bytes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def root(smoke_root, tmp_path) -> Path:
    return copy_data(smoke_root, tmp_path / "project", ("smoke",))


def test_kill_9_mid_epoch_keeps_the_model_and_resumes(root):
    from train_child import spec

    layout = Layout(root)
    previous = train_graph_model(layout, spec("smoke", 1), log=lambda m: None)
    model_dir = previous.model_dir
    before = tree_bytes(model_dir)
    assert {"model.pt", "metrics.json", "run_record.json"} <= set(before)

    run = Child(root, "--epochs", "3", "--batch-sleep", "0.15")
    try:
        run.wait_for("saved epoch 1")
        time.sleep(0.4)  # well inside epoch 2: 6 batches (5 train, 1 val) of >= 0.15 s each
        assert run.proc.poll() is None, run.output
        run.proc.send_signal(signal.SIGKILL)
        assert run.finish() == -signal.SIGKILL
    finally:
        run.kill()
    assert "saved epoch 2" not in run.output
    # the previous version is untouched and no half-written file sits beside it
    assert tree_bytes(model_dir) == before
    assert sorted(p.name for p in model_dir.parent.iterdir()) == [".work", "smoke", "smoke.history.jsonl"]
    work = model_dir.parent / ".work" / "smoke"
    assert (work / "checkpoint.pt").exists()

    # the next run resumes from epoch 1 and is itself killed at the worst instant of epoch 2's
    # checkpoint: the new file renamed into place, its digest not yet updated
    second = Child(root, "--epochs", "3", "--die-in-save", "2")
    try:
        assert second.finish() == -signal.SIGKILL, second.output
    finally:
        second.kill()
    assert f"resumed from {work / 'checkpoint.pt'} at epoch 1" in second.output
    assert "epoch 2/3" in second.output and "saved epoch 2" not in second.output
    assert tree_bytes(model_dir) == before

    resumed = Child(root, "--epochs", "3")
    try:
        assert resumed.finish() == 0, resumed.output
    finally:
        resumed.kill()
    assert "corrupted" not in resumed.output
    assert f"resumed from {work / 'checkpoint.pt'} at epoch 2" in resumed.output
    result = resumed.result()
    assert (result["resumed_from"], result["epochs_run"]) == (2, 3)
    assert result["model_dir"] == str(model_dir)
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["epochs_run"] == 3 and metrics["test"]["formation_energy"]["n"] > 0
    history = (model_dir / "history.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in history[1:]] == ["1", "2", "3"]
    assert tree_bytes(model_dir) != before
    assert not (work / "checkpoint.pt").exists()  # removed once the new version is written


def test_the_docs_state_this_test_s_epochs():
    """docs/reliability.md tells the numbers of the test above; they must stay the test's."""
    import re

    from matassets.paths import PROJECT_ROOT

    text = " ".join((PROJECT_ROOT / "docs/reliability.md").read_text(encoding="utf-8").split())
    found = re.search(
        r"in epoch (\d+) of (\d+).*resumes from epoch (\d+) and finishes all (\d+) epochs", text
    )
    assert found, "docs/reliability.md no longer describes the kill test"
    source = Path(__file__).read_text(encoding="utf-8")
    killed_in, total, resumed_at, finished = map(int, found.groups())
    assert f'"--epochs", "{total}"' in source and total == finished
    assert f'"saved epoch {killed_in - 1}")' in source  # killed after the previous epoch's save
    assert f'at epoch {resumed_at}" in resumed.output' in source
    assert f"== ({resumed_at}, {total})" in source
