"""The run record's git state: dvc.lock and the model histories, rewritten by runs, do not make it dirty
(issue #21: every run record said git_dirty: true once one run had committed to DVC)."""

from __future__ import annotations

import subprocess


def _git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def test_dvc_lock_rewritten_by_a_run_is_not_an_uncommitted_change(tmp_path, monkeypatch):
    from matassets.training.run_record import git_state

    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.org")
    _git(tmp_path, "config", "user.name", "t")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\n")
    history = tmp_path / "models" / "datasets" / "d" / "m" / "std.history.jsonl"
    history.parent.mkdir(parents=True)
    history.write_text('{"version": 1}\n')
    _git(tmp_path, "add", "code.py", "dvc.lock", str(history))
    _git(tmp_path, "commit", "-q", "-m", "code")
    monkeypatch.setenv("MATASSETS_CODE_REPO", str(tmp_path))
    assert git_state()["git_dirty"] is False

    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")  # what the DVC hook does
    history.write_text('{"version": 1}\n{"version": 2}\n')  # what a promotion does
    state = git_state()
    assert state["git_dirty"] is False and state["git_diff_sha256"] is None

    (tmp_path / "code.py").write_text("x = 2\n")  # an edit of the code still counts
    state = git_state()
    assert state["git_dirty"] is True and state["git_diff_sha256"]
