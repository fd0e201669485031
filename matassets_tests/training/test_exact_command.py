"""The command a run record keeps gives the run's overrides again: run through the CLI, it asks for
the same run config, which yields the same preset changes."""

from __future__ import annotations

import json
import shlex

from matassets.assets.phase4_topo import FOREST, ForestOverrides
from matassets.cli import main
from matassets.levels import TOPO_RF
from matassets.training.run_record import exact_command


def test_the_recorded_command_asks_for_the_runs_overrides_again(capsys) -> None:
    overrides = {"n_estimators": 50, "min_samples_leaf": 3, "max_depth": None}
    command = exact_command(FOREST.command("smoke"), overrides)
    assert command.startswith("matassets run phase4 --algorithm rf --level smoke --set ")
    argv = shlex.split(command)
    assert argv[0] == "matassets" and main([*argv[1:], "--dry-run"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("run config: "))
    config = json.loads(line.removeprefix("run config: "))["ops"]["topo_classifier_rf"]["config"]
    _, changes, _ = ForestOverrides(**config).apply(TOPO_RF["smoke"])
    assert changes == overrides
    # no overrides: the family's command as it is
    assert exact_command(FOREST.command("smoke"), {}) == FOREST.command("smoke")


def test_a_string_that_reads_as_json_is_quoted_as_json() -> None:
    assert exact_command("c", {"a": "sqrt"}) == "c --set a=sqrt"
    assert exact_command("c", {"a": "true"}) == "c --set 'a=\"true\"'"
