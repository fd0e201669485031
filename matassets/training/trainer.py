"""The one trainer for every GNN in matassets.

A model family brings an ``nn.Module`` mapping a ``GraphBatch`` to ``(num_graphs, n_tasks)`` outputs,
an objective (``training.objectives``) and a ``TrainPreset`` row. The trainer does the rest:
AdamW, the preset's schedule, gradient clipping, optional EMA of the weights, early stopping and
checkpoint choice on the VALIDATION split only, a checkpoint every ``checkpoint_every`` epochs that a
later run resumes from, a wall-clock budget that sizes the schedule after epoch 1, progress lines
(epoch, loss, validation MAE, time left) and the history.

Inside a ``torch.distributed`` process group (``training.distributed``: torchrun, or
``train_graph_model`` with ``nproc`` > 1) the same loop trains data-parallel: the model is wrapped
in DistributedDataParallel, every rank draws the same seeded epoch order and takes its share of each
batch (``rank_batches``), validation is split over the ranks and gathered, and only rank 0 logs and
writes checkpoints.

Runs are reproducible: each epoch's shuffle and dropout are seeded from (seed, epoch), so a run
resumed from a checkpoint follows the same path as one that was never interrupted.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from matassets.graphs.store import GraphStore
from matassets.levels import TrainPreset
from matassets.training import distributed
from matassets.training.checkpoint import load_checkpoint, remove_checkpoint, save_checkpoint

if TYPE_CHECKING:
    from matassets.graphs.sharded import ShardedGraphStore


@dataclass
class GraphSplit:
    """Graphs (by store index) with their targets (NaN = missing), one row per graph."""

    store: GraphStore | ShardedGraphStore  # either kind (``graphs.sharded.load_store``)
    index: np.ndarray
    y: np.ndarray  # (n, n_tasks) float32

    def __len__(self) -> int:
        return len(self.index)


@dataclass
class FitResult:
    best_epoch: int
    best_score: float
    epochs_run: int
    stopped_early: bool
    stop_reason: str
    history: list[dict] = field(default_factory=list)
    resumed_from_epoch: int = 0
    seconds: float = 0.0


class EMA:
    """Exponential moving average of parameters and buffers: ``avg ← d·avg + (1 − d)·w``.

    The decay is warmed up, ``d_t = min(decay, (1 + t) / (10 + t))`` after ``t`` updates (the
    ``num_updates`` form of TensorFlow's ``ExponentialMovingAverage``): with a constant 0.999 the
    average after an epoch of a few hundred steps would still be mostly the initial weights, and
    it is the average that validation judges.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.shadow = copy.deepcopy(model).eval()
        for p in self.shadow.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        self.updates += 1
        for avg, new in zip(self.shadow.state_dict().values(), model.state_dict().values(), strict=True):
            if avg.dtype.is_floating_point:
                avg.mul_(decay).add_(new, alpha=1.0 - decay)
            else:
                avg.copy_(new)


def rank_batches(order: np.ndarray, batch_size: int, rank: int = 0, world: int = 1) -> list[np.ndarray]:
    """This rank's batches of an epoch ``order``, as torch's DistributedSampler deals them: the order
    padded by wrapping round to a multiple of ``world``, rank r taking positions r, r + world, …, in
    batches of ``ceil(batch_size / world)``. Step k of all ranks together is then the one-process
    batch k (exactly so when ``world`` divides ``batch_size``), and every rank takes as many steps."""
    if world > 1:
        order = np.resize(order, math.ceil(len(order) / world) * world)[rank::world]
        batch_size = math.ceil(batch_size / world)
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


@torch.no_grad()
def predict(model: nn.Module, split: GraphSplit, batch_size: int, device: torch.device) -> np.ndarray:
    """Raw model outputs (normalised units) for every graph of ``split``, in order. In a process
    group every rank predicts every world-th batch with rank 0's buffers, and all get all outputs."""
    model.eval()
    rank, world = distributed.rank_world()
    distributed.sync_buffers(model)
    chunks = rank_batches(np.arange(len(split)), batch_size)
    mine = {
        k: model(split.store.collate(split.index[b]).to(device)).float().cpu().numpy()
        for k, b in enumerate(chunks)
        if k % world == rank
    }
    outs = {k: out for part in distributed.gather(mine) for k, out in part.items()}
    if not outs:
        return np.zeros((0, split.y.shape[1]), np.float32)
    return np.concatenate([outs[k] for k in range(len(chunks))])


def lr_factor_cosine(step: int, total: int, warmup_fraction: float) -> float:
    """Linear warm-up over ``warmup_fraction`` of the steps, then a cosine from 1 to 0."""
    warm = int(warmup_fraction * total)
    if step < warm:
        return (step + 1) / warm
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))


def lr_factor_onecycle(step: int, total: int, warmup_fraction: float) -> float:
    """Smith's one-cycle shape as torch's ``OneCycleLR`` draws it: cosine from lr/25 up to lr over
    ``warmup_fraction`` of the steps, then cosine down to lr/(25·10⁴)."""
    start, end = 1 / 25, 1 / 25e4
    warm = max(1, int(max(warmup_fraction, 0.01) * total))
    if step < warm:
        return start + (1 - start) * 0.5 * (1 - math.cos(math.pi * step / warm))
    t = min(1.0, (step - warm) / max(1, total - warm))
    return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * t))


def epochs_for_budget(budget_s: float, spent_s: float, done: int, epoch_s: float, max_epochs: int) -> int:
    """Planned epochs when ``done`` epochs took ``spent_s`` of ``budget_s`` and one takes ``epoch_s``
    (the mean so far, so a change of load on the machine re-sizes the plan): the epochs done plus
    those fitting 95 % of the budget (room for the final test pass and the outputs), between
    ``done`` and ``max_epochs``."""
    if epoch_s <= 0:
        return max_epochs
    more = int((0.95 * budget_s - spent_s) / epoch_s)
    return max(done, min(max_epochs, done + more))


def same_preset(saved: dict | None, preset: TrainPreset) -> bool:
    """Whether a checkpoint's preset is ``preset``; a field added to ``TrainPreset`` after the
    checkpoint was written counts as equal when ``preset`` leaves it at its default."""
    if saved is None:
        return False
    defaults = {f.name: f.default for f in fields(preset)}
    return all(saved.get(k, defaults[k]) == v for k, v in asdict(preset).items())


class Trainer:
    def __init__(
        self,
        model: nn.Module,
        objective,
        preset: TrainPreset,
        work_dir: Path,
        seed: int,
        log: Callable[[str], None] = print,
        device: str | None = None,
        run_key: str = "",
    ) -> None:
        self.rank, self.world = distributed.rank_world()
        self.device = torch.device(device) if device else distributed.device(preset.device)
        self.model = model.to(self.device)
        self.objective = objective
        self.preset = preset
        self.seed = seed
        self.log = log if self.rank == 0 else distributed.quiet
        self.run_key = run_key  # a checkpoint is resumed only by a run with the same key
        self.checkpoint_path = Path(work_dir) / "checkpoint.pt"

    def _scheduler(self, optimizer, plan: dict):
        """The preset's learning-rate schedule over ``plan["epochs"] * plan["steps"]`` steps.

        The schedule reads ``plan`` at every step, so a run with a time budget can shrink its
        planned epochs after the first one and still anneal completely (``epochs_for_budget``).
        """
        p = self.preset
        if p.scheduler in ("cosine", "onecycle"):
            shape = lr_factor_onecycle if p.scheduler == "onecycle" else lr_factor_cosine

            def factor(step: int) -> float:
                return shape(step, max(1, plan["epochs"] * plan["steps"]), p.warmup_fraction)

            return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        if p.scheduler == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=10)
        return None

    def _evaluate(self, split: GraphSplit, model: nn.Module) -> dict[str, dict]:
        out = predict(model, split, self.preset.batch_size, self.device)
        return self.objective.metrics(split.y, self.objective.decode(out))

    def fit(self, train: GraphSplit, val: GraphSplit, stop: Callable[[int], bool] | None = None) -> FitResult:
        """Train; leave the best-on-validation weights in ``self.best_model``.

        ``stop(epoch)`` is asked after each epoch; returning True ends the run there (used by tests
        that simulate a crash, and by callers that want to cancel).
        """
        p = self.preset
        net = distributed.wrap(self.model, self.device)  # what the training steps call
        groups = [{"params": list(self.model.parameters())}]
        learnable = self._learnable()
        if learnable is not None:  # the objective's own parameters (e.g. learned task weights)
            groups.append({"params": list(learnable.parameters()), "weight_decay": 0.0})
        optimizer = torch.optim.AdamW(groups, lr=p.lr, weight_decay=p.weight_decay)
        steps = len(rank_batches(np.arange(len(train)), p.batch_size, self.rank, self.world))
        plan = {"epochs": p.epochs, "steps": steps}
        scheduler = self._scheduler(optimizer, plan)
        ema = EMA(self.model, p.ema_decay) if p.ema_decay else None
        state = {
            "epoch": 0,
            "best_score": math.inf,
            "best_epoch": 0,
            "history": [],
            "best_state": copy.deepcopy(self.model.state_dict()),
            "elapsed": 0.0,
            "planned_epochs": p.epochs,
        }
        resumed = self._resume(optimizer, scheduler, ema, state)
        plan["epochs"] = state["planned_epochs"]
        y_train = torch.as_tensor(train.y)
        start = time.perf_counter() - state["elapsed"]
        resumed_elapsed = state["elapsed"]
        stop_reason = "epoch limit"
        epoch = state["epoch"]
        while epoch < plan["epochs"]:
            epoch += 1
            torch.manual_seed(self.seed * 100_003 + epoch)
            self.model.train()
            losses = []
            order = train.store.shuffle(train.index, self.seed * 100_003 + epoch)
            for b in rank_batches(order, p.batch_size, self.rank, self.world):
                if len(b) < 2 and len(train) > 1:
                    continue  # batch norm needs two samples
                batch = train.store.collate(train.index[b]).to(self.device)
                loss = self.objective.loss_fn(net(batch), y_train[b].to(self.device))
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"loss is {loss.item()} at epoch {epoch}; "
                        "lower the learning rate or check the targets"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if learnable is not None:
                    distributed.average_gradients(learnable)
                nn.utils.clip_grad_norm_(self.model.parameters(), p.grad_clip)
                optimizer.step()
                if ema:
                    ema.update(self.model)
                if scheduler is not None and p.scheduler != "plateau":
                    scheduler.step()
                losses.append(loss.item())
            judged = ema.shadow if ema else self.model
            val_metrics = self._evaluate(val, judged)
            score = self.objective.score(val_metrics)
            if scheduler is not None and p.scheduler == "plateau":
                scheduler.step(score)
            elapsed = distributed.from_main(time.perf_counter() - start)  # one clock for all ranks
            row = {
                "epoch": epoch,
                "train_loss": distributed.mean(float(np.mean(losses)) if losses else math.nan),
                "val_score": score,
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": round(elapsed, 2),
            }
            row.update(
                {
                    f"val_{k}_{t}": v
                    for t, m in val_metrics.items()
                    for k, v in m.items()
                    if k in ("mae", "balanced_accuracy")
                }
            )
            if learnable is not None:  # e.g. the learned task weights, epoch by epoch
                weights = self.objective.state().get("task_weights", {})
                row.update({f"weight_{t}": w for t, w in weights.items()})
            state["history"].append(row)
            improved = score < state["best_score"]
            if improved:
                state.update(
                    best_score=score,
                    best_epoch=epoch,
                    best_state=copy.deepcopy(judged.state_dict()),
                )
            if p.time_budget_s and epoch > resumed:
                per_epoch = (elapsed - resumed_elapsed) / (epoch - resumed)  # this process's mean
                planned = epochs_for_budget(p.time_budget_s, elapsed, epoch, per_epoch, p.epochs)
                if planned != plan["epochs"]:
                    plan["epochs"] = state["planned_epochs"] = planned
                    self.log(
                        f"time budget {p.time_budget_s:.0f}s, {elapsed:.0f}s spent: the schedule "
                        f"is sized to {planned} of at most {p.epochs} epochs"
                    )
            left = elapsed / (epoch - resumed) * (plan["epochs"] - epoch) if epoch > resumed else 0.0
            shown = ", ".join(
                f"{k}={v:.4g}" for k, v in row.items() if k.startswith("val_") and isinstance(v, float)
            )
            self.log(
                f"epoch {epoch}/{plan['epochs']} loss={row['train_loss']:.4f} {shown}"
                f"{' *' if improved else ''} elapsed={elapsed:.0f}s left≈{left:.0f}s"
            )
            state["epoch"], state["elapsed"] = epoch, elapsed
            if self.rank == 0 and (epoch % p.checkpoint_every == 0 or epoch == plan["epochs"]):
                self._save(optimizer, scheduler, ema, state)
            if epoch - state["best_epoch"] >= p.patience:
                stop_reason = f"early stop: no validation improvement for {p.patience} epochs"
                break
            if p.time_budget_s and elapsed >= p.time_budget_s:
                stop_reason = f"time budget of {p.time_budget_s:.0f}s reached"
                break
            if distributed.from_main(stop is not None and stop(epoch)):
                stop_reason = "stopped by caller"
                break
        self.best_model = copy.deepcopy(self.model)
        self.best_model.load_state_dict(state["best_state"])
        self.log(
            f"{stop_reason}; best validation score {state['best_score']:.4g} at epoch {state['best_epoch']}"
        )
        return FitResult(
            state["best_epoch"],
            state["best_score"],
            epoch,
            stop_reason.startswith("early stop"),
            stop_reason,
            state["history"],
            resumed,
            time.perf_counter() - start,
        )

    def _learnable(self) -> nn.Module | None:
        """The objective's trainable parameters as a module on this device, or None."""
        learnable = getattr(self.objective, "learnable", None)
        return learnable.to(self.device) if learnable is not None else None

    def _save(self, optimizer, scheduler, ema, state: dict) -> None:
        learnable = self._learnable()
        save_checkpoint(
            self.checkpoint_path,
            {
                "run_key": self.run_key,
                "model": self.model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "ema": ema.shadow.state_dict() if ema else None,
                "ema_updates": ema.updates if ema else 0,
                "objective": learnable.state_dict() if learnable is not None else None,
                "preset": asdict(self.preset),
                **state,
            },
        )

    def _resume(self, optimizer, scheduler, ema, state: dict) -> int:
        if not self.checkpoint_path.exists():
            return 0
        saved = load_checkpoint(self.checkpoint_path)
        if saved.get("run_key") != self.run_key or not same_preset(saved.get("preset"), self.preset):
            self.log(f"ignoring {self.checkpoint_path}: it belongs to a different data, split or preset")
            return 0
        self.model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if scheduler is not None and saved["scheduler"] is not None:
            scheduler.load_state_dict(saved["scheduler"])
        if ema and saved["ema"] is not None:
            ema.shadow.load_state_dict(saved["ema"])
            ema.updates = saved.get("ema_updates", 10**9)  # older checkpoints: the plain decay
        learnable = self._learnable()
        if learnable is not None and saved.get("objective") is not None:
            learnable.load_state_dict(saved["objective"])
        for key in ("epoch", "best_score", "best_epoch", "history", "best_state", "elapsed"):
            state[key] = saved[key]
        state["planned_epochs"] = saved.get("planned_epochs", self.preset.epochs)
        self.log(f"resumed from {self.checkpoint_path} at epoch {state['epoch']}")
        return state["epoch"]

    def finish(self) -> None:
        """Forget the checkpoint once the run's outputs are safely written."""
        remove_checkpoint(self.checkpoint_path)
