"""Load a trained graph model from its folder (no Dagster needed) and predict for structure files."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from matassets.graphs.store import GraphStore
from matassets.inference.inputs import StructureInputError, read_structure_file
from matassets.io import read_json_dict
from matassets.models.registry import build_model
from matassets.training.objectives import BinaryObjective, RegressionObjective

__all__ = ["LoadedModel", "PredictInputError", "load_model", "read_structure_file"]


# a structure file that cannot be used, named with the reason; read_structure_file checks a file's
# size and site count before parsing it, then the training-data checks (inference/inputs.py)
PredictInputError = StructureInputError


@dataclass
class LoadedModel:
    model: torch.nn.Module  # member 0 (the only one of a single model)
    config: dict
    objective: RegressionObjective | BinaryObjective
    members: list[torch.nn.Module] = field(default_factory=list)  # an ensemble's, member 0 first
    # task → the factor fitted on validation that turns the members' spread into a calibrated
    # error bar (metrics.json calibration → test_scaled → scale; training.ensemble.sigma_scale)
    sigma_scales: dict[str, float] = field(default_factory=dict)

    @property
    def tasks(self) -> list[str]:
        return self.config["tasks"]

    @property
    def ensemble_size(self) -> int:
        return len(self.members) or 1

    def predict_store(self, store: GraphStore, batch_size: int = 64) -> np.ndarray:
        """Predictions in physical units (probabilities for a classifier), one row per graph; an
        ensemble's: the members' mean."""
        return self.predict_store_spread(store, batch_size)[0]

    def predict_store_spread(self, store: GraphStore, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """(mean, standard deviation over the ensemble's members), one row per graph; the standard
        deviation of a single model is 0 (it has no spread to report)."""
        from matassets.training.ensemble import predict_members
        from matassets.training.trainer import GraphSplit

        split = GraphSplit(store, np.arange(len(store)), np.zeros((len(store), len(self.tasks))))
        models = self.members or [self.model]
        mean, std, _ = predict_members(models, split, self.objective, batch_size, torch.device("cpu"))
        return mean, (np.zeros_like(mean) if std is None else std)

    def check_structure(self, name: str, structure) -> None:
        """Refuse a structure with an atom that has no neighbour within the model's cutoff: the
        model only saw bonded crystals, and an isolated atom would get a meaningless number."""
        cutoff = self.config["graph"]["cutoff"]
        centers = set(structure.get_neighbor_list(r=cutoff)[0].tolist())
        lonely = [i for i in range(len(structure)) if i not in centers]
        if lonely:
            raise PredictInputError(
                f"{name}: atom {lonely[0]} ({structure[lonely[0]].specie}) has no neighbour "
                f"within the model's cutoff of {cutoff} A; isolated atoms are not a crystal"
            )

    def predict_structures(self, ids: list[str], structures: list, with_std: bool = False):
        """Predictions for ``structures`` (the members' mean for an ensemble); ``with_std``: (mean,
        standard deviation over the members)."""
        for name, structure in zip(ids, structures, strict=True):
            self.check_structure(name, structure)
        graph = self.config["graph"]
        store = GraphStore.build(ids, structures, graph["cutoff"], graph["max_neighbors"])
        mean, std = self.predict_store_spread(store)
        return (mean, std) if with_std else mean


def load_model(model_dir: Path) -> LoadedModel:
    model_dir = Path(model_dir)
    config_path = model_dir / "config.json"
    if not config_path.exists():
        raise FileNotFoundError(
            f"no trained model in {model_dir} (no config.json); materialize it "
            "first, e.g. `matassets run phase1 --level smoke`"
        )
    from matassets.training.model_folder import verify

    verify(model_dir)  # a file changed since training is refused (IntegrityError names it)
    config = json.loads(config_path.read_text(encoding="utf-8"))
    from matassets.training.ensemble import load_members

    # model.pt, and member_<k>.pt of an ensemble (training.ensemble)
    members = load_members(model_dir, config, lambda: build_model(config["architecture"]))
    calibration = (read_json_dict(model_dir / "metrics.json") or {}).get("calibration") or {}
    scales = {t: c["test_scaled"]["scale"] for t, c in calibration.items() if "test_scaled" in c}
    norm = json.loads((model_dir / "normalization.json").read_text(encoding="utf-8"))
    if config["objective"] == "regression":
        # a folder from before the bounds were stored clips into today's plausible ranges
        objective = RegressionObjective(norm["tasks"], bounds=norm.get("bounds"))
        objective.mean, objective.std = np.array(norm["mean"]), np.array(norm["std"])
    else:
        objective = BinaryObjective(norm["tasks"], majority=norm["majority"])
    return LoadedModel(members[0], config, objective, members if len(members) > 1 else [], scales)
