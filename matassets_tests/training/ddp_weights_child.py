"""One run of the weight-comparison test in ``test_distributed`` (not a test module).

``python ddp_weights_child.py ROOT ASSET`` trains the small smoke CGCNN of ``test_distributed`` for
one epoch in this process; under ``torchrun --nproc-per-node 2`` every rank calls the same and the
two ranks train it data-parallel. Batch normalisation is replaced by the identity first (in every
rank: it is the one layer that differs by design, each rank normalising over its own share of the
batch), so one process and two must end the epoch with the same weights.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

from torch import nn


class NoBatchNorm(nn.Identity):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__()


def main() -> None:
    root, asset = Path(sys.argv[1]).resolve(), sys.argv[2]
    import matassets.models.cgcnn as cgcnn

    cgcnn.nn = types.SimpleNamespace(**{**vars(nn), "BatchNorm1d": NoBatchNorm})
    from test_distributed import spec

    from matassets.paths import Layout
    from matassets.training.graph_model import train_graph_model

    train_graph_model(Layout(root), spec(asset, epochs=1), log=print)


if __name__ == "__main__":
    main()
