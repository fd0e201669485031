"""A corrupted DVC cache object is refused before ``push``, ``pull`` and ``checkout`` use it.

DVC's cache is content-addressed: ``.dvc/cache/files/md5/ab/cdef…`` holds bytes whose md5 is
``abcdef…`` (a folder's listing ends in ``.dir``). DVC does not check that when it pushes or checks
out: a flipped byte went to the remote under the good hash, and ``matassets checkout`` restored it.
Each command now hashes the objects it would use and names the corrupted one, the output it holds
and what to do; intact, they work. A real git + DVC project of the smoke data (and, for
``checkout``, a smoke CGCNN model).
"""

from __future__ import annotations

import json

import pytest
from conftest import dvc_project, materialize

from matassets.assets.phase1 import cgcnn_asset
from matassets.cli import main
from matassets.paths import Layout
from matassets.versioning import cache_object, dvc_md5, lock_hashes, run_dvc

pytestmark = pytest.mark.slow  # starts dvc


def flip(path) -> bytes:
    """Flip one byte of a (read-only) cache object; its original bytes."""
    original = path.read_bytes()
    path.chmod(0o644)
    data = bytearray(original)
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return original


def remote_objects(root) -> int:
    return sum(1 for p in (root / ".dvc-remote").rglob("*") if p.is_file())


def test_push_and_pull_refuse_a_corrupted_cache_object(smoke_copy, tmp_path, monkeypatch, capsys):
    root = dvc_project(smoke_copy, tmp_path / "repo")
    run_dvc(
        root,
        "commit",
        "--force",
        "--quiet",
        "raw_structures@smoke",
        "structures@smoke",
        "crystal_graphs@smoke",
    )
    monkeypatch.setenv("MATASSETS_ROOT", str(root))
    table = "data/structures/smoke/structures.parquet"
    obj = cache_object(root, lock_hashes(root, "structures@smoke")[table])
    original = flip(obj)

    assert main(["push", "--level", "smoke"]) == 1
    err = capsys.readouterr().err
    assert "error: 1 corrupted object(s) in the DVC cache; refusing to push:" in err
    assert f"  {obj.relative_to(root)} (holds {table}, stage structures@smoke): its md5 is " in err
    assert "`matassets pull --asset structures --level smoke` fetches a good copy" in err
    assert "`dvc commit --force structures@smoke` stores it again" in err
    assert remote_objects(root) == 0  # nothing sent under the good name

    obj.write_bytes(original)  # intact again: push sends everything
    assert main(["push", "--level", "smoke"]) == 0
    sent = remote_objects(root)
    assert sent > 0

    graphs = lock_hashes(root, "crystal_graphs@smoke")["data/graphs/smoke"]  # a folder: .dir listing
    listing = cache_object(root, graphs)
    first = json.loads(listing.read_text())[0]
    member = cache_object(root, first["md5"])
    flip(member)
    assert main(["pull", "--level", "smoke"]) == 1
    err = capsys.readouterr().err
    assert "refusing to pull:" in err
    assert (
        f"{member.relative_to(root)} (holds data/graphs/smoke/{first['relpath']}, stage crystal_graphs@smoke)"
        in err
    )
    flip(listing)  # the listing itself: named as the folder's object
    assert main(["push", "--level", "smoke", "--asset", "crystal_graphs"]) == 1
    err = capsys.readouterr().err
    assert f"{listing.relative_to(root)} (holds data/graphs/smoke, stage crystal_graphs@smoke)" in err
    assert remote_objects(root) == sent


def test_checkout_refuses_a_corrupted_model_object(smoke_copy, tmp_path, capsys):
    root = dvc_project(smoke_copy, tmp_path / "project")
    layout = Layout(root)
    assert materialize([cgcnn_asset("band_gap")], root).success  # version 1, committed to DVC
    weights = layout.model_dir("cgcnn_band_gap", "smoke") / "model.pt"
    obj = cache_object(root, dvc_md5(weights))
    original = flip(obj)
    checkout = ["checkout", "cgcnn_band_gap", "--level", "smoke", "--root", str(root), "--version", "1"]
    with pytest.raises(SystemExit) as info:
        main(checkout)
    message = str(info.value)
    assert message.startswith("error: corrupted object(s) in the DVC cache; nothing restored:")
    assert f"{obj.relative_to(root)} (holds models/cgcnn_band_gap/smoke/model.pt, " in message
    assert "delete it and fetch version 1 again from the remote" in message
    assert not layout.candidate_dir("cgcnn_band_gap", "smoke", "restore-v1").exists()  # nothing copied

    obj.write_bytes(original)  # intact: version 1 is restored as version 2
    assert main(checkout) == 0
    assert "version 1 restored as version 2" in capsys.readouterr().out
    assert weights.read_bytes() == original
