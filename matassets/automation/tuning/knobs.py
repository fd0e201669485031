"""Tunable preset fields (knobs) and the moves that change them.

A move changes every knob of one role (learning rate, budget, capacity, regularisation) up or down
by the knob's step, clipped to its bounds: ``budget_up`` (epochs or trees ×2, the successive-halving
budget step with η = 2), ``lr_up`` / ``lr_down`` (×2 / ×0.5), ``capacity_up`` / ``capacity_down``
(hidden width ×1.5 / ÷1.5; forest depth ±4), ``regularise_up`` / ``regularise_down`` (weight decay
×4 / ÷4 and dropout ±0.1; forest min leaf ±2). ``MOVE_ORDER`` is the order in which moves are tried
for each diagnosis of a round's learning curve (``rules.diagnose``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Role = Literal["lr", "budget", "capacity", "regularisation"]


@dataclass(frozen=True)
class Knob:
    """One tunable preset field: how a move changes it, and its bounds."""

    name: str
    role: Role
    mode: Literal["mul", "add", "irreps"]
    # factor (mul; irreps: of every multiplicity) or increment (add) of one move up; a move down
    # divides / subtracts
    step: float
    lo: float
    hi: float
    integer: bool = False
    multiple: int = 1  # integers are rounded to a multiple of this (layer widths)

    def moved(self, value, direction: int):
        if self.mode == "irreps":  # e3nn irreps "64x0e+32x1o": scale every multiplicity
            factor = self.step if direction > 0 else 1.0 / self.step
            parts = []
            for term in str(value).split("+"):
                mul, _, ir = term.strip().partition("x")
                scaled = min(self.hi, max(self.lo, round(int(mul) * factor)))
                parts.append(f"{int(scaled)}x{ir}")
            return "+".join(parts)
        value = float(value)
        if self.mode == "mul":
            if value == 0:
                new = self.lo if direction > 0 else 0.0
            else:
                new = value * self.step if direction > 0 else value / self.step
        else:
            new = value + direction * self.step
        new = min(self.hi, max(self.lo, new))
        if self.integer:
            new = int(max(self.lo, self.multiple * round(new / self.multiple)))
        else:
            new = float(f"{new:.6g}")  # no 0.30000000000000004 in the summary
        if (new - value) * direction < 0:  # a value outside the bounds is never moved backwards
            return int(value) if self.integer else value
        return new


GNN_KNOBS: tuple[Knob, ...] = (
    Knob("lr", "lr", "mul", 2.0, 1e-7, 5e-2),
    Knob("epochs", "budget", "mul", 2.0, 1, 5000, integer=True),
    Knob("hidden", "capacity", "mul", 1.5, 16, 1024, integer=True, multiple=8),
    Knob("weight_decay", "regularisation", "mul", 4.0, 1e-6, 1e-1),
    Knob("dropout", "regularisation", "add", 0.1, 0.0, 0.5),
)
E3NN_KNOBS: tuple[Knob, ...] = (
    Knob("lr", "lr", "mul", 2.0, 1e-7, 5e-2),
    Knob("epochs", "budget", "mul", 2.0, 1, 5000, integer=True),
    Knob("irreps", "capacity", "irreps", 1.5, 1, 512),
    Knob("weight_decay", "regularisation", "mul", 4.0, 1e-6, 1e-1),
    Knob("dropout", "regularisation", "add", 0.1, 0.0, 0.5),
)
MACE_KNOBS: tuple[Knob, ...] = (
    Knob("lr", "lr", "mul", 2.0, 1e-6, 5e-2),
    Knob("epochs", "budget", "mul", 2.0, 1, 5000, integer=True),
    Knob("num_channels", "capacity", "mul", 1.5, 8, 512, integer=True, multiple=8),
)
FOREST_KNOBS: tuple[Knob, ...] = (
    Knob("n_estimators", "budget", "mul", 2.0, 10, 4000, integer=True),
    Knob("max_depth", "capacity", "add", 4, 2, 64, integer=True),
    Knob("min_samples_leaf", "regularisation", "add", 2, 1, 50, integer=True),
)

MOVES: dict[str, tuple[Role, int]] = {
    "budget_up": ("budget", +1),
    "lr_up": ("lr", +1),
    "lr_down": ("lr", -1),
    "capacity_up": ("capacity", +1),
    "capacity_down": ("capacity", -1),
    "regularise_up": ("regularisation", +1),
    "regularise_down": ("regularisation", -1),
}
MOVE_ORDER: dict[str, tuple[str, ...]] = {
    "still improving": (
        "budget_up",
        "lr_up",
        "capacity_up",
        "regularise_up",
        "lr_down",
        "regularise_down",
        "capacity_down",
    ),
    "overfitting": (
        "regularise_up",
        "lr_down",
        "capacity_down",
        "budget_up",
        "lr_up",
        "capacity_up",
        "regularise_down",
    ),
    "underfitting": (
        "capacity_up",
        "regularise_down",
        "lr_down",
        "budget_up",
        "lr_up",
        "regularise_up",
        "capacity_down",
    ),
    "plateau": (
        "lr_down",
        "capacity_up",
        "regularise_up",
        "budget_up",
        "lr_up",
        "regularise_down",
        "capacity_down",
    ),
}


def apply_move(params: Mapping[str, object], move: str, knobs: tuple[Knob, ...]) -> dict:
    role, direction = MOVES[move]
    out = dict(params)
    for knob in knobs:
        if knob.role == role and knob.name in out and out[knob.name] is not None:
            out[knob.name] = knob.moved(out[knob.name], direction)
    return out
