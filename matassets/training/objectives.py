"""What a model learns: targets, their normalisation (train split only), loss and validation score.

One trainer serves every GNN; a family differs by its module, its objective and its preset row.
Missing targets (NaN) are masked out of the loss, so one objective covers single- and multitask.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from matassets.training.metrics import classification_metrics, regression_metrics


class UncertaintyWeights(nn.Module):
    r"""Task weights learned from homoscedastic uncertainty (Kendall, Gal & Cipolla, CVPR 2018,
    Eq. 7), one log-variance :math:`s_t = \log \sigma_t^2` per task:

    .. math::
        L = \frac{1}{|T|} \sum_{t \in T} \tfrac12 e^{-s_t} L_t + \tfrac12 s_t

    over the tasks :math:`T` labelled in the batch. A noisy or hard task earns a large
    :math:`\sigma_t` and a small weight :math:`e^{-s_t}`; the :math:`s_t` term stops every
    :math:`\sigma_t` from growing without bound. Starts at equal weights (:math:`s_t = 0`).
    """

    def __init__(self, n_tasks: int) -> None:
        super().__init__()
        self.log_var = nn.Parameter(torch.zeros(n_tasks))

    def forward(self, per_task: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        s = self.log_var.to(per_task.dtype)[present]
        return (0.5 * torch.exp(-s) * per_task[present] + 0.5 * s).mean()

    def weights(self) -> list[float]:
        """The current weights :math:`e^{-s_t}` (1.0 = the fixed-weight loss)."""
        return torch.exp(-self.log_var.detach().cpu()).tolist()


def plausible_bounds(tasks: list[str]) -> list[list[float] | None]:
    """Each task's plausible range (``[low, high]`` from its property, None where it has none or is
    unknown in this process): what a decoded prediction is clipped into."""
    from matassets.data.schema import TARGETS

    bounds: list[list[float] | None] = []
    for task in tasks:
        try:
            rng = TARGETS[task].range
        except KeyError:
            rng = None
        bounds.append(list(rng) if rng is not None else None)
    return bounds


@dataclass
class RegressionObjective:
    """z-scored regression; the validation score is the mean over tasks of MAE / MAD (unit-free).

    A decoded prediction is clipped into its property's plausible range (``bounds``; e.g. a band
    gap or a modulus is never negative): a value there is closer to every true value than one
    outside it, so the clip only ever lowers an error. ``bounds`` go into the model folder's
    ``normalization.json`` with the statistics, so a prediction made later clips the same way.

    ``task_weights="learned"`` weights the tasks by ``UncertaintyWeights``: its parameters are in
    ``learnable``, which the trainer optimises together with the model.
    """

    tasks: list[str]
    loss: str = "huber"
    huber_delta: float = 1.0
    mean: np.ndarray = field(default=None)  # type: ignore[assignment]
    std: np.ndarray = field(default=None)  # type: ignore[assignment]
    kind: str = "regression"
    task_weights: str = "fixed"
    learnable: nn.Module | None = field(default=None, init=False, repr=False)
    bounds: list[list[float] | None] = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.bounds is None:
            self.bounds = plausible_bounds(self.tasks)
        if self.task_weights not in ("fixed", "learned"):
            raise ValueError(f"task_weights must be 'fixed' or 'learned', not {self.task_weights!r}")
        if self.task_weights == "learned":
            self.learnable = UncertaintyWeights(len(self.tasks))

    def fit(self, y_train: np.ndarray) -> None:
        """Normalisation statistics from the training targets only."""
        y_train = np.asarray(y_train, dtype=np.float64)  # stats in float64, as stored
        self.mean = np.nanmean(y_train, axis=0)
        self.std = np.nanstd(y_train, axis=0)
        self.std[~(self.std > 0)] = 1.0

    def state(self) -> dict:
        state = {
            "tasks": self.tasks,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "bounds": self.bounds,
        }
        if self.learnable is not None:
            state["task_weights"] = dict(zip(self.tasks, self.learnable.weights(), strict=True))
        return state

    def encode(self, y: torch.Tensor) -> torch.Tensor:
        mean, std = (torch.as_tensor(v, dtype=y.dtype, device=y.device) for v in (self.mean, self.std))
        return (y - mean) / std

    def decode(self, out: np.ndarray) -> np.ndarray:
        low = np.array([b[0] if b else -np.inf for b in self.bounds])
        high = np.array([b[1] if b else np.inf for b in self.bounds])
        return np.clip(out * self.std + self.mean, low, high)

    def loss_fn(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        mask = ~torch.isnan(y)
        target = torch.where(mask, self.encode(y), torch.zeros_like(y))
        if self.loss == "mse":
            per = (out - target) ** 2
        else:
            per = F.huber_loss(out, target, delta=self.huber_delta, reduction="none")
        per = per * mask
        # mean per task over its labelled rows, then mean over tasks present in the batch
        count = mask.sum(0)
        present = count > 0
        if self.learnable is not None:
            return self.learnable(per.sum(0) / count.clamp(min=1), present)
        return (per.sum(0)[present] / count[present]).mean()

    def metrics(self, y: np.ndarray, pred: np.ndarray) -> dict[str, dict]:
        out = {}
        for k, task in enumerate(self.tasks):
            mask = ~np.isnan(y[:, k])
            out[task] = regression_metrics(y[mask, k], pred[mask, k], float(self.mean[k]))
        return out

    def score(self, metrics: dict[str, dict]) -> float:
        """Lower is better: mean over tasks of MAE / MAD (1.0 = no better than the mean)."""
        ratios = [
            m["mae"] / m["baseline_mad"] for m in metrics.values() if m.get("n") and m["baseline_mad"] > 0
        ]
        return float(np.mean(ratios)) if ratios else float("nan")


@dataclass
class BinaryObjective:
    """Binary classification with logits; the validation score is 1 - balanced accuracy."""

    tasks: list[str]
    positive_weight: float = 1.0
    majority: int = 0
    kind: str = "binary"

    def fit(self, y_train: np.ndarray) -> None:
        labels = y_train[~np.isnan(y_train)]
        positives = float(labels.sum())
        self.majority = int(positives * 2 >= labels.size)
        self.positive_weight = (labels.size - positives) / max(positives, 1.0)

    def state(self) -> dict:
        return {
            "tasks": self.tasks,
            "majority": self.majority,
            "positive_weight": self.positive_weight,
        }

    def decode(self, out: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-out))

    def loss_fn(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        mask = ~torch.isnan(y)
        weight = torch.tensor(self.positive_weight, dtype=out.dtype, device=out.device)
        return F.binary_cross_entropy_with_logits(out[mask], y[mask], pos_weight=weight)

    def metrics(self, y: np.ndarray, pred: np.ndarray) -> dict[str, dict]:
        return {
            task: classification_metrics(y[:, k], pred[:, k], self.majority)
            for k, task in enumerate(self.tasks)
        }

    def score(self, metrics: dict[str, dict]) -> float:
        values = [1.0 - m["balanced_accuracy"] for m in metrics.values() if m.get("n")]
        return float(np.mean(values)) if values else float("nan")
