"""``matassets pull`` fails loudly when the remote cannot restore what dvc.lock records (issue #21:
on a fresh clone it exited 0 with 13 files missing and the level half restored)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from matassets.cli import main
from matassets.paths import PROJECT_ROOT


@pytest.mark.slow  # starts dvc
def test_pull_lists_what_the_remote_could_not_restore_and_exits_1(tmp_path, monkeypatch, capsys):
    """Synthetic fixture: a fresh DVC project whose dvc.lock records std outputs that no remote holds
    (the checkout's default remote is a folder on the machine that made them), one folder half there."""
    root = tmp_path / "clone"
    (root / ".dvc").mkdir(parents=True)
    shutil.copy2(PROJECT_ROOT / "dvc.yaml", root / "dvc.yaml")
    shutil.copy2(PROJECT_ROOT / ".dvc" / "config", root / ".dvc" / "config")  # remote: ../.dvc-remote
    lock = {
        "schema": "2.0",
        "stages": {
            "splits@std": {
                "cmd": "matassets materialize --asset splits --level std",
                "outs": [{"path": "data/splits/std", "hash": "md5", "md5": "0" * 32 + ".dir", "nfiles": 3}],
            },
            "cgcnn_band_gap@std": {
                "cmd": "matassets materialize --asset cgcnn_band_gap --level std",
                "outs": [
                    {
                        "path": "models/cgcnn_band_gap/std",
                        "hash": "md5",
                        "md5": "1" * 32 + ".dir",
                        "nfiles": 9,
                    }
                ],
            },
        },
    }
    (root / "dvc.lock").write_text(yaml.safe_dump(lock), encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    monkeypatch.setenv("MATASSETS_ROOT", str(root))

    code = main(["pull", "--level", "std"])  # dvc pull --allow-missing itself exits 0 here
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert "error: 2 output(s) of 2 stage(s) could not be restored" in err
    assert "  models/cgcnn_band_gap/std (9 files): missing [cgcnn_band_gap@std]" in err
    assert "  data/splits/std: 3 of 3 files missing [splits@std]" in err  # dvc leaves it empty
    assert "set up a shared remote first (docs/operating.md" in err

    half = root / "data/splits/std"  # half restored: a folder with fewer files than dvc.lock records
    half.mkdir(parents=True, exist_ok=True)
    (half / "split_manifest.json").write_text("{}")
    assert main(["pull", "--level", "std"]) == 1
    assert "  data/splits/std: 2 of 3 files missing [splits@std]" in capsys.readouterr().err
