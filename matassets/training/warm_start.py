"""Warm start: initialise a model's encoder from another trained model's folder.

Used by the Phase 3 specialists, which start from ``multitask_e3nn`` of the same partition, and by a
property model run with ``warm_start_from`` (another property's model of its family). The
pretrained model must have been trained on the SAME split manifest (same hash) as the run it warms:
a model trained on another split may have seen this run's test crystals, and its knowledge of them
would leak into the test score. That is checked here and refused with a clear message.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from matassets.io import sha256_file


class WarmStartError(ValueError):
    """The pretrained model is missing, or was trained on another split."""


def load_pretrained_encoder(model: nn.Module, source: Path, split_hash: str, member: int = 0) -> dict:
    """Copy ``source``'s encoder weights into ``model`` (which must have ``load_encoder``): those of
    the source's ensemble member ``member`` (modulo its size), so the members of an ensemble start
    from as many different encoders as the source has.

    Returns what was done, for ``config.json`` and the run record: the source folder and asset,
    the sha256 of its weights, its split hash and the number of tensors copied.
    """
    source = Path(source)
    from matassets.training.model_folder import folder_size, member_files, verify

    verify(source)  # the encoder's files as they were trained, or refused
    weights = source / "model.pt"
    if not weights.exists():
        raise WarmStartError(
            f"no trained model to warm-start from in {source}; materialize it first (or turn warm start off)"
        )
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    record = json.loads((source / "run_record.json").read_text(encoding="utf-8"))
    if record.get("split_hash") != split_hash:
        raise WarmStartError(
            f"{config.get('asset', source)} was trained on split {record.get('split_hash')}, "
            f"but this run uses split {split_hash}: its training crystals could be in this run's "
            "test set. Re-materialize it on the current split first."
        )
    if not hasattr(model, "load_encoder"):
        raise WarmStartError(f"{type(model).__name__} cannot load a pretrained encoder")
    files = member_files(folder_size(config))
    names = model.load_encoder(torch.load(source / files[member % len(files)], weights_only=True))
    blocks = config["architecture"].get("hidden_irreps")  # an e3nn encoder's equivariant blocks
    return {
        "source": str(source),
        "asset": config.get("asset"),
        "model_sha256": sha256_file(weights),
        "split_hash": split_hash,
        "tensors": len(names),
        "source_members": len(files),
        **({"blocks": len(blocks)} if blocks else {}),
    }
