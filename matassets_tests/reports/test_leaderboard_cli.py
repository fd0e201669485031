"""``matassets leaderboard`` prints the trained models' test metrics from disk."""

import json


def test_leaderboard_command_shows_the_trained_model(phase1_smoke, smoke_root, capsys):
    from matassets.cli import main

    metrics = json.loads((smoke_root / "models/cgcnn_formation_energy/smoke/metrics.json").read_text())
    assert main(["leaderboard", "--root", str(smoke_root), "--partition", "smoke"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "cgcnn_formation_energy" in line]
    assert len(rows) == 1
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[:5] == ["formation_energy", "cgcnn_formation_energy", "smoke", "MAE", "eV/atom"]
    assert float(cells[5]) == float(f"{metrics['test']['formation_energy']['mae']:.4g}")
    assert main(["leaderboard", "--root", str(smoke_root), "--partition", "std"]) == 0
    assert "cgcnn_formation_energy" not in capsys.readouterr().out  # no std model in this root
