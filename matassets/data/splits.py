"""Train/validation/test splits: computed once per (data version, partition, seed), saved as a manifest.

Every model of a partition reads the same manifest. Splits are made over groups, never single
rows: identical structures (``dup_group``) always share a side, and the grouped strategies keep a
whole chemical system (``chemsys``) or space group (``spacegroup``) on one side.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np
import polars as pl

from matassets.data import schema
from matassets.data.duplicates import DUP_GROUP

SPLITS = ("train", "val", "test")


def chemsys(formula: str) -> str:
    from pymatgen.core import Composition

    return "-".join(sorted(el.symbol for el in Composition(formula).elements))


def needs_spacegroups(strategy: str) -> bool:
    """Whether the strategy groups by space group (validation then computes the missing ones)."""
    return strategy == "spacegroup"


def group_keys(frame: pl.DataFrame, strategy: str) -> list[str]:
    if strategy == "random":
        return frame[DUP_GROUP].to_list()
    if strategy == "chemsys":
        return [chemsys(f) for f in frame[schema.FORMULA]]
    if needs_spacegroups(strategy):
        return [str(sg) for sg in frame[schema.SPACEGROUP]]
    raise ValueError(f"unknown split strategy {strategy!r}; use random, chemsys or spacegroup")


@dataclass
class SplitManifest:
    strategy: str
    seed: int
    fractions: tuple[float, float, float]
    data_version: str
    assignment: dict[str, str] = field(repr=False)  # id -> train/val/test

    @property
    def hash(self) -> str:
        payload = json.dumps({k: v for k, v in asdict(self).items()}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def ids(self, split: str) -> list[str]:
        return [i for i, s in self.assignment.items() if s == split]

    def sizes(self) -> dict[str, int]:
        return {s: sum(1 for v in self.assignment.values() if v == s) for s in SPLITS}

    def to_json(self) -> dict:
        return {**asdict(self), "hash": self.hash, "sizes": self.sizes()}

    @classmethod
    def from_json(cls, data: dict) -> SplitManifest:
        manifest = cls(
            strategy=data["strategy"],
            seed=data["seed"],
            fractions=tuple(data["fractions"]),
            data_version=data["data_version"],
            assignment=data["assignment"],
        )
        if "hash" in data and data["hash"] != manifest.hash:
            raise ValueError(
                f"split manifest hash mismatch: stored {data['hash']}, "
                f"content gives {manifest.hash}; the manifest was edited or corrupted"
            )
        return manifest


def make_splits(
    frame: pl.DataFrame,
    strategy: str,
    seed: int,
    fractions: tuple[float, float, float],
    data_version: str,
) -> SplitManifest:
    """Assign whole groups to splits in a seeded random order until each split has its share."""
    if abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"split fractions must sum to 1, got {fractions}")
    keys = group_keys(frame, strategy)
    ids = frame[schema.ID].to_list()
    members: dict[str, list[str]] = {}
    for i, key in zip(ids, keys, strict=True):
        members.setdefault(key, []).append(i)
    order = sorted(members)
    rng = np.random.default_rng(seed)
    rng.shuffle(order)
    n = len(ids)
    targets = {"test": fractions[2] * n, "val": fractions[1] * n}
    counts = {"test": 0, "val": 0}
    assignment: dict[str, str] = {}
    for key in order:
        group = members[key]
        # fill test, then val, then the rest is train; a group goes where it fits best
        side = next((s for s in ("test", "val") if counts[s] + len(group) / 2 <= targets[s]), "train")
        if side != "train":
            counts[side] += len(group)
        for i in group:
            assignment[i] = side
    return SplitManifest(strategy, seed, tuple(fractions), data_version, dict(sorted(assignment.items())))


def leakage(manifest: SplitManifest, frame: pl.DataFrame) -> dict[str, int]:
    """Counts of ids and identical-structure groups that appear in train and in val/test."""
    side = frame.select(schema.ID, DUP_GROUP).with_columns(
        pl.col(schema.ID).replace_strict(manifest.assignment, default=None).alias("split")
    )
    groups = side.group_by(DUP_GROUP).agg(pl.col("split").unique())
    straddling = sum(1 for splits in groups["split"] if "train" in splits and ({"val", "test"} & set(splits)))
    missing = side["split"].null_count()
    unknown = len(set(manifest.assignment) - set(frame[schema.ID]))
    return {
        "duplicate_groups_straddling": straddling,
        "ids_missing": missing,
        "ids_unknown": unknown,
    }


def cap(frame: pl.DataFrame, max_rows: int | None, seed: int) -> pl.DataFrame:
    """A seeded random subset of at most ``max_rows`` rows (all rows when None), in id order."""
    if max_rows is None or frame.height <= max_rows:
        return frame
    return frame.sample(n=max_rows, seed=seed, shuffle=False).sort(schema.ID)
