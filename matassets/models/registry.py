"""Build a model from the ``architecture`` block saved in its ``config.json``.

The torch module of each architecture is named once, in its family's row (``matassets.families``).
"""

from __future__ import annotations

import importlib

from torch import nn

from matassets.families import FAMILIES


def build_model(architecture: dict) -> nn.Module:
    name = architecture["family"]
    modules = {f.architecture: f.module for f in FAMILIES if f.architecture}
    if name not in modules:
        raise ValueError(f"unknown model family {name!r}; known: {', '.join(sorted(modules))}")
    module, _, cls = modules[name].partition(":")
    kwargs = {k: v for k, v in architecture.items() if k != "family"}
    return getattr(importlib.import_module(module), cls)(**kwargs)
