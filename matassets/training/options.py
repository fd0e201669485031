"""How one training run is carried out, apart from its preset: the run options.

They travel explicitly (not inside the preset overrides): ``seed`` is the training seed
(initialisation and data order; ``None`` = the family's default, the level's seed) and never moves
the split, which is read from the split manifest; ``nproc`` data-parallel processes (the one GNN
trainer only); ``force`` retrains a model whose folder is up to date; ``output_tag`` writes a
tuning round's candidate to ``models/<asset>/tuning/<tag>/`` instead of the current model.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunOptions:
    seed: int | None = None
    nproc: int = 1
    force: bool = False
    output_tag: str = ""

    def training_seed(self, default: int) -> int:
        return default if self.seed is None else self.seed
