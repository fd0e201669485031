"""The tuning rules as pure functions: synthetic round histories (unit tests, no training)."""

import csv
import json

import pytest

from matassets.automation.tuning.knobs import E3NN_KNOBS, GNN_KNOBS
from matassets.automation.tuning.outcomes import Outcome, read_outcome, validation_score
from matassets.automation.tuning.promotion import promotion_decision
from matassets.automation.tuning.rules import Policy, Round, next_round
from matassets.automation.tuning.summary import SUMMARY_COLUMNS, write_summary
from matassets.automation.tuning.targets import resolve_targets

PRESET = {"lr": 1e-3, "epochs": 10, "hidden": 64, "weight_decay": 1e-4, "dropout": 0.0, "seed": 42}


def outcome(val, train=None, best=5, run=10, stop="early stop: no validation improvement", **kw):
    train = val if train is None else train
    return Outcome(True, val, train, best, run, stop, **{"split_hash": "s1", **kw})


def first(val, train=None, **kw):
    return [Round(1, dict(PRESET), "preset", None, outcome(val, train, **kw))]


def reg(mae, mad, n=10):
    return {"n": n, "mae": mae, "baseline_mad": mad}


def test_validation_score_reads_val_only_and_refuses_test_only_metrics():
    score, metric = validation_score(
        {"val": {"a": reg(1.0, 4.0), "b": reg(3.0, 6.0)}, "test": {"a": reg(0.0, 1.0)}}
    )
    assert score == pytest.approx((0.25 + 0.5) / 2) and "MAE/MAD" in metric
    binary, metric = validation_score({"val": {"topo": {"n": 5, "balanced_accuracy": 0.8}}})
    assert binary == pytest.approx(0.2) and "balanced accuracy" in metric
    with pytest.raises(ValueError, match="validation metrics only"):
        validation_score({"test": {"a": reg(1.0, 2.0)}})
    # MACE: energy and force MAE beside their trivial baselines; the total, not each element
    mace = {
        "Cu": {"energy_mae_meV_per_atom": 99.0, "energy_baseline_mae_meV_per_atom": 1.0},
        "all": {
            "energy_mae_meV_per_atom": 10.0,
            "energy_baseline_mae_meV_per_atom": 40.0,
            "force_mae_meV_per_A": 100.0,
            "force_baseline_mae_meV_per_A": 200.0,
        },
    }
    assert validation_score({"val": mace}) == (pytest.approx(0.375), "val MAE/baseline MAE (mean over tasks)")


def test_round_reader_never_passes_the_test_block_on(tmp_path):
    metrics = {
        "train": {"y": reg(0.5, 4.0)},
        "val": {"y": reg(1.0, 4.0)},
        "test": {"y": reg(0.001, 4.0)},
        "best_epoch": 3,
        "epochs_run": 4,
        "stop_reason": "epoch limit",
    }
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    (tmp_path / "run_record.json").write_text(json.dumps({"split_hash": "abc"}))
    got = read_outcome(tmp_path, 0)
    assert got.ok and got.val_score == 0.25 and got.train_score == 0.125
    assert (got.best_epoch, got.epochs_run, got.split_hash) == (3, 4, "abc")
    assert not read_outcome(tmp_path, 1).ok  # a failed run never counts, whatever its metrics
    (tmp_path / "metrics.json").write_text(json.dumps({"test": {"y": reg(0.1, 4.0)}}))
    with pytest.raises(ValueError, match="validation metrics only"):
        read_outcome(tmp_path, 0)
    assert not read_outcome(tmp_path / "missing", 0).ok


@pytest.mark.parametrize(
    ("history", "move", "changed"),
    [
        # best epoch at the end of the budget, no early stop: more epochs (x2)
        (first(0.5, best=10, stop="epoch limit"), "budget_up", {"epochs": 20}),
        # validation far worse than training: more weight decay (x4) and dropout (+0.1)
        (first(0.6, train=0.2), "regularise_up", {"weight_decay": 4e-4, "dropout": 0.1}),
        # validation close to training: a wider model (x1.5, multiple of 8)
        (first(0.5, train=0.48), "capacity_up", {"hidden": 96}),
        # a plateau with a moderate gap: a lower learning rate (x0.5)
        (first(0.5, train=0.4), "lr_down", {"lr": 5e-4}),
    ],
)
def test_round_two_follows_the_learning_curve(history, move, changed):
    decision = next_round(history, GNN_KNOBS, limit=3)
    assert decision.move == move and decision.parent == 1
    assert decision.params == {**PRESET, **changed}
    assert move in decision.reason and "round 1" in decision.reason


def test_improvement_beyond_noise_repeats_the_move_and_within_noise_tries_another():
    history = first(0.5, best=10, stop="epoch limit")
    two = {**PRESET, "epochs": 20}
    better = history + [Round(2, two, "budget_up", 1, outcome(0.45, best=20, run=20))]
    decision = next_round(better, GNN_KNOBS, limit=5)
    assert decision.move == "budget_up" and decision.params["epochs"] == 40
    assert "improved the validation score by 10.0%" in decision.reason

    # 1 % better is inside the 2 % noise floor: back to round 1 and the next move in its order
    same = history + [Round(2, two, "budget_up", 1, outcome(0.495, best=20, run=20))]
    decision = next_round(same, GNN_KNOBS, limit=5)
    assert decision.parent == 2  # round 2 is still the best score, so moves start from it
    worse = history + [Round(2, two, "budget_up", 1, outcome(0.55, best=20, run=20))]
    decision = next_round(worse, GNN_KNOBS, limit=5)
    assert decision.parent == 1 and decision.move == "lr_up"
    assert decision.params == {**PRESET, "lr": 2e-3}
    assert "did not beat round 1 by more than the noise (2.0%)" in decision.reason


def test_convergence_and_round_limit_stop():
    history = first(0.5, train=0.4)
    history.append(Round(2, {**PRESET, "lr": 5e-4}, "lr_down", 1, outcome(0.499, train=0.4)))
    history.append(Round(3, {**PRESET, "hidden": 96}, "capacity_up", 1, outcome(0.51, train=0.4)))
    decision = next_round(history, GNN_KNOBS, limit=10)
    assert decision.stop and decision.reason.startswith("converged: 2 rounds in a row")
    assert "best is round 2" in decision.reason
    assert next_round(history[:2], GNN_KNOBS, limit=2).reason == "round limit of 2 reached"
    assert not next_round(history[:2], GNN_KNOBS, limit=10, policy=Policy(patience=3)).stop


def test_failed_rounds_retry_with_half_the_learning_rate_then_stop():
    history = first(0.5, train=0.4)
    history.append(Round(2, {**PRESET, "lr": 8e-3}, "lr_up", 1, Outcome(False, note="return code 1")))
    decision = next_round(history, GNN_KNOBS, limit=5)
    assert decision.move == "retry_after_failure" and decision.parent == 1
    assert decision.params == {**PRESET, "lr": 5e-4}
    assert "return code 1" in decision.reason
    history.append(Round(3, decision.params, decision.move, 1, Outcome(False, note="nan")))
    assert next_round(history, GNN_KNOBS, limit=5).reason.startswith("2 failed rounds in a row")


def test_measured_seed_noise_raises_the_bar():
    history = first(0.50, best=10, stop="epoch limit")
    decision = next_round(history, GNN_KNOBS, limit=5, measure_noise=True)
    assert decision.move == "repeat_seed" and decision.params == {**PRESET, "seed": 43}
    history.append(Round(2, decision.params, "repeat_seed", 1, outcome(0.53, best=10, run=10)))
    decision = next_round(history, GNN_KNOBS, limit=5, measure_noise=True)
    assert decision.move == "budget_up" and decision.parent == 1
    history.append(Round(3, decision.params, "budget_up", 1, outcome(0.48, best=5, run=20)))
    # 4 % better than round 1: above the 2 % floor but inside the measured 6 % seed noise
    decision = next_round(history, GNN_KNOBS, limit=5, measure_noise=True)
    assert decision.move != "budget_up" and "noise (6.0%)" in decision.reason


def test_data_change_mid_session_and_bounds():
    history = first(0.5, best=10, stop="epoch limit")
    moved = Outcome(True, 0.4, 0.4, 5, 10, "early stop", split_hash="other")
    history.append(Round(2, {**PRESET, "epochs": 20}, "budget_up", 1, moved))
    assert next_round(history, GNN_KNOBS, limit=5).reason.startswith("the data or split changed")
    # at the top of its bounds a move changes nothing and is skipped
    top = {**PRESET, "epochs": 5000}
    decision = next_round(
        [Round(1, top, "preset", None, outcome(0.5, best=5000, run=5000, stop="epoch limit"))], GNN_KNOBS, 3
    )
    assert decision.move == "lr_up"
    irreps = E3NN_KNOBS[2]
    assert irreps.moved("64x0e+32x1o+16x2e", +1) == "96x0e+48x1o+24x2e"


def test_promotion_only_when_validation_improves():
    current = {"val": {"y": reg(1.0, 4.0)}, "test": {"y": reg(9.0, 4.0)}}
    better, worse = outcome(0.2), outcome(0.3)
    assert promotion_decision(better, current, "s1")[0]
    ok, reason = promotion_decision(worse, current, "s1")
    assert not ok and "does not beat the current 0.25" in reason
    assert promotion_decision(worse, None, None) == (True, "the asset had no current version")
    assert promotion_decision(worse, current, "old")[0]  # current trained on another split
    assert not promotion_decision(None, current, "s1")[0]


def test_targets_skip_what_cannot_be_tuned_safely():
    tunable = {"lr", "epochs", "hidden", "output_tag", "seed"}
    available = {"cgcnn_band_gap": tunable, "cgcnn_K_VRH": {"lr", "epochs"}, "raw_structures": set()}
    targets, skipped = resolve_targets("phase1", "smoke", available)
    assert [t.asset for t in targets] == ["cgcnn_band_gap"]
    assert targets[0].knobs == ["lr", "epochs", "hidden"] and targets[0].preset["seed"] == 42
    assert any("cgcnn_K_VRH" in s and "output_tag" in s for s in skipped)
    targets, _ = resolve_targets("phase1", "smoke", available, prop="K_VRH")
    assert targets == []
    _, skipped = resolve_targets("all", "smoke", available)
    assert any(s.startswith("e3nn_multitask: no asset multitask_e3nn") for s in skipped)
    with pytest.raises(ValueError, match="unknown phase"):
        resolve_targets("phase9", "smoke", available)


def test_summary_files_have_every_runbook_column(tmp_path):
    row = {c: None for c in SUMMARY_COLUMNS} | {"round": 1, "params_in": {"lr": 0.1}, "score": 0.5}
    write_summary(tmp_path, {"session_id": "x"}, [row | {"_outcome": {}}])
    with open(tmp_path / "summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == SUMMARY_COLUMNS and json.loads(rows[0]["params_in"]) == {"lr": 0.1}
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["columns"] == list(SUMMARY_COLUMNS) and "_outcome" not in data["rows"][0]
    for name in (
        "session_id",
        "phase",
        "algorithm",
        "stage",
        "round",
        "run_id",
        "return_code",
        "duration_sec",
        "score",
        "prev_score",
        "relative_improvement",
        "auto_tune_reason",
        "params_in",
        "params_out",
        "command",
    ):
        assert name in SUMMARY_COLUMNS


def test_graph_model_competition_rows_spend_a_time_budget():
    """Every TrainPreset family's competition row: a wall-clock budget, one-cycle and EMA
    (docs/competition.md)."""
    from matassets import levels

    tables = {
        name: rows
        for name, rows in vars(levels).items()
        if isinstance(rows, dict) and isinstance(rows.get("competition"), levels.TrainPreset)
    }
    assert {"CGCNN", "E3NN_MULTITASK", "SPECIALIST", "TOPO_GNN"} <= set(tables)
    for name, rows in tables.items():
        row = rows["competition"]
        assert row.time_budget_s and row.time_budget_s > 0, name
        assert row.scheduler == "onecycle" and row.ema_decay, name
