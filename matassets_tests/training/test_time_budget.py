"""A run with a wall-clock budget sizes its schedule after epoch 1, so it anneals fully."""

import dataclasses
import itertools
import types

import pytest
from test_resume import spec

from matassets.paths import Layout
from matassets.training import trainer
from matassets.training.graph_model import train_graph_model
from matassets.training.trainer import epochs_for_budget, lr_factor_cosine, lr_factor_onecycle


def test_epochs_for_budget():
    # after 1 epoch of 60 s in an hour: 1 + 56 more fit 95 % of it
    assert epochs_for_budget(3600, 60, 1, 60, 500) == 57
    assert epochs_for_budget(3600, 1, 1, 1, 100) == 100  # never more than the preset's epochs
    assert epochs_for_budget(10, 60, 1, 60, 100) == 1  # never fewer than those done
    # the machine got busier: epochs now take 120 s on average, the plan shrinks
    assert epochs_for_budget(3600, 600, 10, 120, 500) == 10 + 23
    assert epochs_for_budget(10, 5, 1, 0.0, 7) == 7


def test_schedule_shapes():
    total = 1000
    assert lr_factor_cosine(0, total, 0.0) == pytest.approx(1.0)
    assert lr_factor_cosine(total, total, 0.0) == pytest.approx(0.0)
    assert lr_factor_cosine(total // 2, total, 0.0) == pytest.approx(0.5)
    assert lr_factor_onecycle(0, total, 0.3) == pytest.approx(1 / 25)
    assert lr_factor_onecycle(300, total, 0.3) == pytest.approx(1.0)
    assert lr_factor_onecycle(total, total, 0.3) == pytest.approx(1 / 25e4)
    rising = [lr_factor_onecycle(s, total, 0.3) for s in range(0, 301, 50)]
    assert rising == sorted(rising)


@pytest.mark.slow
@pytest.mark.parametrize("scheduler", ["cosine", "onecycle"])
def test_budgeted_run_anneals_within_its_budget(smoke_copy, monkeypatch, scheduler):
    # the trainer's clock advances 10 s per reading: epoch 1 "takes" 10 s of a 35 s budget
    ticks = itertools.count(0.0, 10.0)
    monkeypatch.setattr(trainer, "time", types.SimpleNamespace(perf_counter=lambda: next(ticks)))
    base = spec(f"budget_{scheduler}")
    preset = dataclasses.replace(
        base.preset, epochs=8, time_budget_s=35.0, scheduler=scheduler, warmup_fraction=0.3
    )
    lines = []
    result = train_graph_model(Layout(smoke_copy), dataclasses.replace(base, preset=preset), log=lines.append)
    assert any("schedule is sized to 3 of at most 8 epochs" in line for line in lines)
    assert result.fit.epochs_run == 3
    assert result.fit.stop_reason == "epoch limit"
    # the third and last epoch ends at the bottom of the schedule, not midway through an 8-epoch one
    assert result.fit.history[-1]["lr"] < 1e-3 * preset.lr
    assert result.fit.history[0]["lr"] > 0.1 * preset.lr
