"""Load a trained graph model from its folder (no Dagster needed) and predict for structure files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from matassets.graphs.store import GraphStore
from matassets.inference.inputs import StructureInputError, read_structure_file
from matassets.models.registry import build_model
from matassets.training.objectives import BinaryObjective, RegressionObjective

__all__ = ["LoadedModel", "PredictInputError", "load_model", "read_structure_file"]


# a structure file that cannot be used, named with the reason; read_structure_file checks a file's
# size and site count before parsing it, then the training-data checks (inference/inputs.py)
PredictInputError = StructureInputError


@dataclass
class LoadedModel:
    model: torch.nn.Module
    config: dict
    objective: RegressionObjective | BinaryObjective

    @property
    def tasks(self) -> list[str]:
        return self.config["tasks"]

    def predict_store(self, store: GraphStore, batch_size: int = 64) -> np.ndarray:
        """Predictions in physical units (probabilities for a classifier), one row per graph."""
        from matassets.training.trainer import GraphSplit, predict

        split = GraphSplit(store, np.arange(len(store)), np.zeros((len(store), len(self.tasks))))
        out = predict(self.model, split, batch_size, torch.device("cpu"))
        return self.objective.decode(out)

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

    def predict_structures(self, ids: list[str], structures: list) -> np.ndarray:
        for name, structure in zip(ids, structures, strict=True):
            self.check_structure(name, structure)
        graph = self.config["graph"]
        store = GraphStore.build(ids, structures, graph["cutoff"], graph["max_neighbors"])
        return self.predict_store(store)


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
    model = build_model(config["architecture"])
    model.load_state_dict(torch.load(model_dir / "model.pt", weights_only=True))
    model.eval()
    norm = json.loads((model_dir / "normalization.json").read_text(encoding="utf-8"))
    if config["objective"] == "regression":
        objective = RegressionObjective(norm["tasks"])
        objective.mean, objective.std = np.array(norm["mean"]), np.array(norm["std"])
    else:
        objective = BinaryObjective(norm["tasks"], majority=norm["majority"])
    return LoadedModel(model, config, objective)
