"""The checks that judge a candidate model before it may become the current one.

One "beats the baseline" rule per kind of ``metrics.json``, on the validation split only (the test
split is for the report):

- regression (CGCNN, e3nn multitask and specialists): the mean over tasks of validation MAE / MAD
  (the mean predictor's MAE) is below 1; for one task that is MAE < MAD;
- binary classification (TopoGNN, the forest): validation balanced accuracy above 0.5, the majority
  class's whatever the class balance;
- interatomic potential (MACE): validation energy MAE below the E0-only predictor's and force MAE
  below the zero-force predictor's.

A :class:`Gate` is plain data (no Dagster): the assets turn it into an asset check result, the tuning
promotion and ``matassets promote`` read it from a candidate's ``decision.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool
    description: str
    blocking: bool = True  # a failed blocking gate keeps the candidate from becoming the current model
    metadata: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def metrics_kind(metrics: dict) -> str:
    """``regression``, ``binary`` or ``potential`` from the shape of a ``metrics.json``."""
    val = metrics.get("val") or {}
    first = next(iter(val.values()), {}) if isinstance(val, dict) else {}
    if "energy_mae_meV_per_atom" in first:
        return "potential"
    if "balanced_accuracy" in first:
        return "binary"
    return "regression"


def beats_baseline(metrics: dict, name: str | None = None, blocking: bool = True) -> Gate:
    """The one baseline check of a model's metrics (``{"val": {...}, ...}``)."""
    kind = metrics_kind(metrics)
    val = metrics["val"]
    if kind == "potential":
        v = val["all"]
        passed = (
            v["energy_mae_meV_per_atom"] < v["energy_baseline_mae_meV_per_atom"]
            and v["force_mae_meV_per_A"] < v["force_baseline_mae_meV_per_A"]
        )
        return Gate(
            name or "beats_trivial_baselines",
            bool(passed),
            f"validation energy MAE {v['energy_mae_meV_per_atom']:.1f} vs E0-only "
            f"{v['energy_baseline_mae_meV_per_atom']:.1f} meV/atom; force MAE "
            f"{v['force_mae_meV_per_A']:.0f} vs zero-force {v['force_baseline_mae_meV_per_A']:.0f} meV/Å",
            blocking,
            {k: x for k, x in v.items() if isinstance(x, int | float)},
        )
    if kind == "binary":
        (task,) = val
        v = val[task]
        return Gate(
            name or "beats_majority_baseline",
            bool(v["balanced_accuracy"] > 0.5),
            f"validation balanced accuracy {v['balanced_accuracy']:.3f} vs 0.5 for the majority "
            f"class; accuracy {v['accuracy']:.3f} vs majority share {v['baseline_accuracy']:.3f}",
            blocking,
            {k: v[k] for k in ("accuracy", "baseline_accuracy", "balanced_accuracy")},
        )
    ratios = {t: m["mae"] / m["baseline_mad"] for t, m in val.items() if m.get("n")}
    score = sum(ratios.values()) / len(ratios) if ratios else float("nan")
    if len(ratios) == 1:
        (task,) = ratios
        m = val[task]
        text = f"validation MAE {m['mae']:.4g} vs mean-predictor MAE {m['baseline_mad']:.4g}"
        meta = {"val_mae": m["mae"], "val_baseline_mad": m["baseline_mad"], "val_score": score}
    else:
        text = f"validation mean MAE/MAD {score:.3f} (1 = mean predictor); " + ", ".join(
            f"{t} {r:.3f}" for t, r in ratios.items()
        )
        meta = {"val_score": score, **{f"val_mae_over_mad_{t}": r for t, r in ratios.items()}}
    return Gate(name or "beats_mean_baseline", bool(score < 1.0), text, blocking, meta)


def blocking_failures(gates: list[Gate]) -> list[Gate]:
    return [g for g in gates if g.blocking and not g.passed]
