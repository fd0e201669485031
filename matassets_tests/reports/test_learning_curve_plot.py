"""The learning curve keeps every epoch visible, also when a learned-weight loss goes negative."""

import math

from matassets.reports.plots import axis_scale, learning_curve


def test_axis_scale_is_linear_when_a_value_is_not_positive():
    assert axis_scale([0.5, 0.2, 0.1]) == "log"
    assert axis_scale([0.03, -0.14, -0.92]) == "linear"  # homoscedastic multitask loss
    assert axis_scale([0.0, 1.0]) == "linear"
    assert axis_scale([math.nan, 0.3]) == "log"
    assert axis_scale([]) == "linear"


def test_learning_curve_writes_a_png_for_negative_losses(tmp_path):
    history = [{"epoch": e, "train_loss": 0.1 - 0.2 * e, "val_score": 0.5 / e} for e in range(1, 6)]
    path = learning_curve(history, tmp_path / "learning_curve.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
