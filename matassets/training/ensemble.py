"""Deep ensembles of graph models: several members, their mean as the prediction, their spread as
the uncertainty (Lakshminarayanan, Pritzel & Blundell, NeurIPS 2017).

``preset.ensemble_size`` members of one architecture are trained one after another by the one
trainer; member k has the training seed ``seed + k`` (initialisation, dropout and data order) and its
checkpoint in ``<work>/member_<k>/``. Member 0 is exactly the model a one-member run trains and stays
in ``model.pt``; member k >= 1 is written beside it as ``member_<k>.pt``, so a one-member folder is
today's folder, byte for byte. Every member sees the same training split and normalisation; with a
warm start, member k starts from the source model's member k (modulo the source's size).

The prediction is the members' mean in physical units (probabilities for a classifier); the
uncertainty is their standard deviation (``numpy.std``, over members). Regression ensembles are
also judged for calibration (:func:`calibration`): does the spread say how large the error is?
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

import numpy as np
import torch
from torch import nn

from matassets.io import torch_save
from matassets.reports.tables import coverage
from matassets.training.model_folder import MEMBER_FILE, folder_size, member_files
from matassets.training.trainer import FitResult, GraphSplit, Trainer, predict

GRID = np.linspace(0.0, 1.0, 101)  # expected fractions of the calibration curve


def member_seed(seed: int, k: int) -> int:
    """Member k's training seed."""
    return seed + k


def load_members(model_dir: Path, config: dict, build: Callable[[], nn.Module]) -> list[nn.Module]:
    """Every member of ``model_dir`` (``build()`` makes an empty model), in eval mode."""
    models = []
    for name in member_files(folder_size(config)):
        path = Path(model_dir) / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the folder's config says it holds this ensemble member")
        model = build()
        model.load_state_dict(torch.load(path, weights_only=True))
        models.append(model.eval())
    return models


def predict_members(
    models: list[nn.Module], split: GraphSplit, objective, batch_size: int, device: torch.device
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(mean, standard deviation or None for one member, every member's values) in physical units,
    one row per graph of ``split``."""
    each = np.stack([objective.decode(predict(m, split, batch_size, device)) for m in models])
    if len(models) == 1:
        return each[0], None, each
    return each.mean(axis=0), each.std(axis=0), each


# ------------------------------------------------------------------------------------ calibration


def calibration_curve(error: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Observed fraction of ``|error|`` inside the centred Gaussian interval that should hold each
    fraction of :data:`GRID` (``|error| <= z_p * std``, ``z_p`` the normal quantile of (1 + p) / 2).
    The ends are 0 and 1 by definition (an interval of no width, an infinite one)."""
    quantile = NormalDist().inv_cdf
    observed = [0.0]
    for p in GRID[1:-1]:
        observed.append(float(np.mean(error <= quantile(0.5 + p / 2) * std)))
    return np.array([*observed, 1.0])


def miscalibration_area(observed: np.ndarray) -> float:
    """Area between the observed and the expected curve (the diagonal), by the trapezoid rule on
    :data:`GRID`: 0 for a perfectly calibrated Gaussian spread, 0.5 at most (all errors outside every
    interval, or all inside every one). As uncertainty-toolbox's ``miscalibration_area`` (Tran et al.,
    Mach. Learn.: Sci. Technol. 2020) where the curves do not cross."""
    gap = np.abs(observed - GRID)
    return float(np.sum((gap[1:] + gap[:-1]) / 2 * np.diff(GRID)))


def calibration(y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> dict:
    """How well ``std`` tells the size of the error ``|y - mean|`` (labelled rows only): the
    miscalibration area, the fractions of errors within 1 and 2 standard deviations (0.683 and 0.954
    for a calibrated Gaussian), the mean spread and the mean absolute error."""
    mask = ~np.isnan(y)
    error, std = np.abs(y[mask] - mean[mask]), std[mask]
    if not error.size:
        return {"n": 0}
    return {
        "n": int(error.size),
        "miscalibration_area": miscalibration_area(calibration_curve(error, std)),
        "within_1sigma": float(np.mean(error <= std)),
        "within_2sigma": float(np.mean(error <= 2 * std)),
        "mean_std": float(np.mean(std)),
        "mae": float(np.mean(error)),
    }


ONE_SIGMA = 2 * NormalDist().cdf(1.0) - 1  # 0.6827: a Gaussian's fraction within one σ


def sigma_scale(error: np.ndarray, std: np.ndarray) -> float | None:
    """The factor s that puts :data:`ONE_SIGMA` of ``error`` within s × ``std`` (the crystals with a
    spread; s = that quantile of error / std), fitted on the validation split: a one-parameter
    quantile recalibration (Kuleshov, Fenner & Ermon, ICML 2018). Not the Gaussian
    maximum-likelihood s² = mean((error / std)²) (σ scaling, Laves et al., MIDL 2020): property
    errors are heavy-tailed, and that scale over-widens 1σ (measured in docs/uncertainty.md). None
    when no crystal has a spread."""
    spread = std > 0
    if not spread.any():
        return None
    return float(np.quantile(error[spread] / std[spread], ONE_SIGMA))


def calibrations(y: dict, mean: dict, std: dict) -> dict:
    """One task's calibration (:func:`calibration`) on ``val`` and ``test`` (arrays by split), and
    ``test_scaled``: the test split's with the spread multiplied by the :func:`sigma_scale` fitted on
    validation (its ``scale``), what a recalibrated error bar would give without touching the test set."""
    out = {s: calibration(y[s], mean[s], std[s]) for s in ("val", "test")}
    labelled = ~np.isnan(y["val"])
    scale = sigma_scale(np.abs(y["val"][labelled] - mean["val"][labelled]), std["val"][labelled])
    if scale is not None and out["test"].get("n"):
        out["test_scaled"] = calibration(y["test"], mean["test"], std["test"] * scale) | {"scale": scale}
    return out


# ------------------------------------------------------------------------------------ size


def size_curve(y: dict, each: dict, objective, seconds: list[float]) -> list[dict]:
    """What every member bought: for k = 1 … M the validation and test metrics of the mean of the
    first k members (``each``: split → (members, n, tasks)) and the training seconds those k took
    (``seconds``, member by member; a resumed member counts its earlier processes too). The ensemble's
    accuracy per CPU-hour, read off one run instead of one run per size."""
    return [
        {
            "members": k,
            "train_seconds": round(sum(seconds[:k]), 1),
            **{s: objective.metrics(y[s], each[s][:k].mean(axis=0)) for s in ("val", "test")},
        }
        for k in range(1, len(seconds) + 1)
    ]


# ------------------------------------------------------------------------------------ training


@dataclass
class Ensemble:
    """The trained members of one run (member 0 trained by the caller's own ``Trainer``)."""

    trainers: list[Trainer]
    fits: list[FitResult]
    seeds: list[int]
    stopped: bool = False
    spreads: dict[str, np.ndarray] = field(default_factory=dict)  # per split, after ``predict``
    members: dict[str, np.ndarray] = field(default_factory=dict)  # per split: (members, n, tasks)

    @property
    def size(self) -> int:
        return len(self.trainers)

    @property
    def models(self) -> list[nn.Module]:
        return [t.best_model for t in self.trainers]

    def predict(self, splits: dict[str, GraphSplit], objective, batch_size: int, device) -> dict:
        """The members' mean for every split (physical units); spreads kept in ``self.spreads``."""
        outputs = {}
        for name, split in splits.items():
            outputs[name], spread, each = predict_members(self.models, split, objective, batch_size, device)
            self.members[name] = each
            if spread is not None:
                self.spreads[name] = spread
        return outputs

    def save(self, folder) -> None:
        """``member_<k>.pt`` for k >= 1 into the staging folder (``model.pt`` is member 0's, written
        by the caller as for a single model)."""
        for k, model in enumerate(self.models[1:], start=1):
            folder.save(MEMBER_FILE.format(k=k), lambda tmp, m=model: torch_save(m.cpu().state_dict(), tmp))

    def report(self, splits: dict[str, GraphSplit], outputs: dict, objective, tasks: list[str]) -> dict:
        """What ``metrics.json`` adds for an ensemble (nothing for one member): every member's seed,
        epochs and validation/test metrics, the mean of the first k members' (``by_size``,
        :func:`size_curve`), and per regression task the calibration on validation and test."""
        if self.size == 1:
            return {}
        members = [
            {
                "seed": seed,
                "best_epoch": fit.best_epoch,
                "epochs_run": fit.epochs_run,
                "stop_reason": fit.stop_reason,
                **{s: objective.metrics(splits[s].y, self.members[s][k]) for s in ("val", "test")},
            }
            for k, (seed, fit) in enumerate(zip(self.seeds, self.fits, strict=True))
        ]
        by_size = size_curve(
            {s: splits[s].y for s in ("val", "test")}, self.members, objective, [f.seconds for f in self.fits]
        )
        out: dict = {
            "ensemble": {"size": self.size, "seeds": self.seeds, "members": members, "by_size": by_size}
        }
        if objective.kind == "regression":
            out["calibration"] = {
                task: calibrations(
                    {s: splits[s].y[:, t] for s in ("val", "test")},
                    {s: outputs[s][:, t] for s in ("val", "test")},
                    {s: self.spreads[s][:, t] for s in ("val", "test")},
                )
                for t, task in enumerate(tasks)
            }
        return out

    def plots(
        self, folder: Path, splits: dict[str, GraphSplit], outputs: dict, tasks, kind: str, report: dict
    ) -> list[Path]:
        """``ensemble_by_size.png`` (``report``'s ``by_size`` against training time) of an ensemble and
        ``calibration.png`` (``calibration_<task>.png`` for several tasks) of a regression ensemble."""
        if self.size == 1:
            return []
        from matassets.data import schema
        from matassets.reports.plots import calibration_plot, size_curve_plot

        units = {task: schema.TARGETS[task].unit if kind == "regression" else "" for task in tasks}
        labels = {task: f"{task} ({unit})" if unit else task for task, unit in units.items()}
        made = [size_curve_plot(report["ensemble"]["by_size"], labels, Path(folder) / "ensemble_by_size.png")]
        if kind != "regression":
            return made
        for t, task in enumerate(tasks):
            series = {}
            for s in ("val", "test"):
                y = splits[s].y[:, t]
                mask = ~np.isnan(y)
                error = np.abs(y[mask] - outputs[s][mask, t])
                std = self.spreads[s][mask, t]
                series[s] = (error, std, calibration_curve(error, std))
            name = "calibration.png" if len(tasks) == 1 else f"calibration_{task}.png"
            made.append(calibration_plot(series, GRID, labels[task], Path(folder) / name))
        return made

    def finish(self) -> None:
        """Forget the members' checkpoints (member 0's is the caller's)."""
        for trainer in self.trainers[1:]:
            trainer.finish()


def fit_members(
    spec,
    first: Trainer,
    first_fit: FitResult,
    splits: dict[str, GraphSplit],
    split_hash: str,
    work: Path,
    run_key: str,
    log: Callable[[str], None],
    stop: Callable[[int], bool] | None,
    objective_for: Callable,
) -> Ensemble:
    """Train members 1 … ``spec.preset.ensemble_size - 1`` of ``spec`` after member 0 (``first``),
    each from scratch (or from the warm start's member k) with its own seed, checkpoint and objective
    (``objective_for(spec)``: learned task weights are a member's own)."""
    from matassets.models.registry import build_model

    ensemble = Ensemble([first], [first_fit], [first.seed])
    size = spec.preset.ensemble_size  # at least 1 (TrainPreset refuses less)
    for k in range(1, size):
        seed = member_seed(first.seed, k)
        log(f"{spec.asset} [{spec.partition}]: ensemble member {k + 1}/{size}, seed {seed}")
        objective = objective_for(spec)
        objective.fit(splits["train"].y)
        torch.manual_seed(seed)
        model = build_model(spec.architecture)
        if spec.warm_start:
            from matassets.training.warm_start import load_pretrained_encoder

            load_pretrained_encoder(model, Path(spec.warm_start), split_hash, member=k)
        trainer = Trainer(
            model, objective, spec.preset, Path(work) / f"member_{k}", seed, log=log,
            run_key=f"{run_key}/member_{k}/seed_{seed}", device=str(first.device),
        )  # fmt: skip
        trainer.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        fit = trainer.fit(splits["train"], splits["val"], stop=stop)
        ensemble.trainers.append(trainer)
        ensemble.fits.append(fit)
        ensemble.seeds.append(seed)
        if stop is not None and fit.stop_reason == "stopped by caller":
            ensemble.stopped = True
            break
    return ensemble


def describe(metrics: dict) -> str:
    """One line per regression task for a log: calibration on validation, 1σ/2σ coverage on test."""
    lines = []
    for task, by_split in (metrics.get("calibration") or {}).items():
        val, test = by_split.get("val", {}), by_split.get("test", {})
        if val.get("n") and test.get("n"):
            line = (
                f"{task}: validation miscalibration area {val['miscalibration_area']:.3f}; test errors "
                f"{coverage(test['within_1sigma'], test['within_2sigma'])} (calibrated: 0.68, 0.95)"
            )
            scaled = by_split.get("test_scaled")
            if scaled:
                within = coverage(scaled["within_1sigma"], scaled["within_2sigma"])
                line += f"; σ × {scaled['scale']:.2f} (fitted on validation): {within}"
            lines.append(line)
    return "; ".join(lines) if lines else ""
