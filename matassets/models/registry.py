"""Build a model from the ``architecture`` block saved in its ``config.json``."""

from __future__ import annotations

from torch import nn


def build_model(architecture: dict) -> nn.Module:
    family = architecture["family"]
    kwargs = {k: v for k, v in architecture.items() if k != "family"}
    if family == "cgcnn":
        from matassets.models.cgcnn import CGCNN

        return CGCNN(**kwargs)
    if family == "topognn":
        from matassets.models.topognn import TopoGNN

        return TopoGNN(**kwargs)
    if family == "e3nn":  # multitask_e3nn and the specialist_<property> models (Phases 2, 3)
        from matassets.models.e3nn_multitask import E3nnMultitask

        return E3nnMultitask(**kwargs)
    raise ValueError(f"unknown model family {family!r}")
