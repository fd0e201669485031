"""The data steps, each reading and writing files under a ``Layout``. Assets call these."""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from matassets.data import schema
from matassets.data.splits import SplitManifest, leakage, make_splits, needs_spacegroups
from matassets.data.tables import CorruptTableError, has_hash, read_table, scan_table, write_table
from matassets.data.validation import ValidationResult, validate
from matassets.data.workers import pool_for
from matassets.datasets.properties import Property
from matassets.io import read_json_dict, sha256_text, write_json
from matassets.levels import DataPreset
from matassets.paths import Layout

GRAPH_CHUNK = 256  # structures a graph-building worker parses and graphs per task
READ_ROWS = 8192  # rows of a stored table read at once by the steps that stream it


def frame_hash(frame: pl.DataFrame | pl.LazyFrame, rows: int = READ_ROWS) -> str:
    """A content hash of a table (row order included): the sha256 of its CSV text, written
    ``rows`` rows at a time (the whole CSV of 100k structures would be a string of ~1 GB; a
    LazyFrame over a stored table is read a slice at a time)."""
    frame = frame.lazy()
    digest = hashlib.sha256()
    for start in range(0, max(_height(frame), 1), rows):
        digest.update(frame.slice(start, rows).collect().write_csv(include_header=start == 0).encode())
    return digest.hexdigest()[:16]


def _height(frame: pl.LazyFrame) -> int:
    return frame.select(pl.len()).collect().item()


def build_raw(frame: pl.DataFrame, layout: Layout, partition: str) -> str:
    write_table(frame, layout.raw(partition))
    return frame_hash(frame)


class NotEnoughCleanStructures(ValueError):
    """Validation left fewer clean structures than the level needs; no table was written."""

    def __init__(self, result: ValidationResult, partition: str, needed: int) -> None:
        self.result, self.partition, self.needed = result, partition, needed
        super().__init__(
            f"{result.clean_rows} clean structures; the {partition} level needs at least {needed}"
        )


def build_structures(
    layout: Layout, partition: str, preset: DataPreset, properties: Mapping[str, Property] | None = None
) -> tuple[ValidationResult, bool]:
    """Validate the partition's raw table into clean and quarantine tables; ``(result, reused)``.

    The level's cap (``preset.max_structures``) applies AFTER validation (rows are validated in a
    seeded order until that many are clean); ``result.counts`` says what it left out.
    ``properties``: a data set's own properties (unit, task, range) for the range checks.
    Space groups a row lacks are computed only when the level's split groups by them
    (``splits.needs_spacegroups``); otherwise they stay null for the consumers that need them
    (``spacegroups.fill_spacegroups``).
    Validation parses every structure, so when the raw table, the preset, the properties and the
    code are those of the tables on disk (their input key, kept in ``.inputs.json`` beside them,
    matches) and carry their content hash (``data.tables``), the tables are read back instead:
    nothing is rewritten. Fewer clean structures than ``preset.min_clean`` raise
    ``NotEnoughCleanStructures`` (with the result) before anything is written: a refused data set
    never replaces the level's tables.
    """
    from matassets.training.incremental import input_key

    raw_path = layout.raw(partition)
    raw = scan_table(raw_path, "raw_structures", partition)
    described = {k: p.to_json() for k, p in sorted((properties or {}).items())}
    key = input_key({"raw": frame_hash(raw), "preset": asdict(preset), "properties": described})
    clean_path, quarantine_path = layout.structures(partition), layout.quarantine(partition)
    keyfile = clean_path.parent / ".inputs.json"  # hidden: a cache key, not a version
    stored = read_json_dict(keyfile) or {}
    if has_hash(clean_path) and has_hash(quarantine_path) and stored.get("input_key") == key:
        try:
            clean = scan_table(clean_path, "structures", partition)
            quarantine = read_table(quarantine_path, "structures", partition)
        except CorruptTableError:
            pass  # a damaged stored table is not reused: validated again below, and rewritten
        else:
            return ValidationResult(clean, quarantine, stored.get("counts", {})), True
    # each batch's clean rows are written to a scratch folder (removed after) and the table is
    # streamed from there: 100k structures are never held at once
    with tempfile.TemporaryDirectory(prefix="matassets-validating-") as scratch:
        result = validate(
            raw_path,
            preset.min_distance,
            preset.max_sites,
            properties,
            max_clean=preset.max_structures,
            seed=preset.seed,
            spacegroups=needs_spacegroups(preset.split_strategy),
            folder=Path(scratch),
        )
        if result.clean_rows < preset.min_clean:  # refused: the stored tables stay as they are
            result.clean = result.clean.collect()  # (fewer than min_clean rows)
            raise NotEnoughCleanStructures(result, partition, preset.min_clean)
        write_table(result.quarantine, quarantine_path)
        write_table(result.clean, clean_path)
    write_json(keyfile, {"input_key": key, "counts": result.counts})
    result.clean = scan_table(clean_path, "structures", partition)
    return result, False


def build_splits(layout: Layout, partition: str, preset: DataPreset) -> tuple[SplitManifest, dict]:
    stored = scan_table(layout.structures(partition), "structures", partition)
    clean = stored.drop(schema.STRUCTURE).collect()  # the texts are not needed to split
    manifest = make_splits(
        clean, preset.split_strategy, preset.seed, preset.split_fractions, frame_hash(stored)
    )
    report = leakage(manifest, clean)
    write_json(layout.split_manifest(partition), manifest.to_json())
    return manifest, report


def load_splits(layout: Layout, partition: str) -> SplitManifest:
    path = layout.split_manifest(partition)
    return SplitManifest.from_json(json.loads(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class GraphSettings:
    """What a graph store is built with; all of it is in the store's key, so a store built another
    way (a store from before distances were rounded, ``graphs.neighbors``) is rebuilt."""

    cutoff: float
    max_neighbors: int
    decimals: int

    @classmethod
    def from_preset(cls, preset: DataPreset) -> GraphSettings:
        from matassets.graphs.neighbors import DECIMALS

        return cls(preset.cutoff, preset.max_neighbors, DECIMALS)


def build_graphs(layout: Layout, partition: str, preset: DataPreset) -> tuple[Path, bool]:
    """Build (or reuse, when data and settings are unchanged) the partition's graph store: one file,
    or a sharded folder streamed shard by shard when the partition has more than
    ``preset.sharded_above`` clean structures (``graphs.sharded``)."""
    from matassets.graphs.sharded import build_sharded
    from matassets.graphs.store import GraphStore, digest_path, store_intact

    clean = scan_table(layout.structures(partition), "structures", partition)
    height = _height(clean)
    settings = GraphSettings.from_preset(preset)
    sharded = height > preset.sharded_above
    identity = frame_hash(clean) + json.dumps(asdict(settings), sort_keys=True)
    key = sha256_text(identity + (f"shards of {preset.shard_size}" if sharded else ""))
    path = layout.graphs(partition, key)
    if sharded:
        path = path.with_suffix("")  # a folder: graphs-<key>/ (each shard checked when loaded)
        cached = path.exists()
    else:  # reused only when its bytes match the sha256 recorded at write: a damaged one is rebuilt
        cached = store_intact(path)
        if not cached:
            path.unlink(missing_ok=True)
            digest_path(path).unlink(missing_ok=True)
    previous = _pointed_store(layout, partition)
    if not cached:
        ids = clean.select(schema.ID).collect()[schema.ID].to_list()
        # parsed and graphed in worker processes, a chunk at a time: no Structure reaches this one,
        # and the texts are read from the table a slice at a time
        pool = pool_for(height)
        chunks = (
            texts.slice(k, GRAPH_CHUNK).to_list()
            for start in range(0, height, READ_ROWS)
            for texts in [clean.select(schema.STRUCTURE).slice(start, READ_ROWS).collect()[schema.STRUCTURE]]
            for k in range(0, texts.len(), GRAPH_CHUNK)
        )
        parts = pool.imap(_graphs_of_texts, chunks, settings.cutoff, settings.max_neighbors)
        graphs = (g for part in parts for g in part)
        try:
            if sharded:
                build_sharded(path, ids, graphs, settings.cutoff, settings.max_neighbors, preset.shard_size)
            else:
                GraphStore.build(ids, graphs, settings.cutoff, settings.max_neighbors).save(path)
        finally:
            pool.close()
    write_json(layout.graphs_pointer(partition), {"path": path.name, "key": key})
    prune_graph_stores(layout, partition, keep={path.name, previous})
    return path, cached


def _graphs_of_texts(texts: list[str], cutoff: float, max_neighbors: int) -> list:
    """The graphs of a chunk of the clean table's structures (pymatgen JSON), in a worker: each
    structure is parsed, graphed and dropped (this module, unlike the graph store's, needs no torch)."""
    from matassets.data.parsing import parse_structure
    from matassets.graphs.neighbors import build_graph

    return [build_graph(parse_structure(t, "pymatgen_json"), cutoff, max_neighbors) for t in texts]


def _pointed_store(layout: Layout, partition: str) -> str | None:
    """The file name of the store the level's pointer names now, or None."""
    pointer = read_json_dict(layout.graphs_pointer(partition)) or {}
    name = pointer.get("path")
    return name if isinstance(name, str) else None


def prune_graph_stores(layout: Layout, partition: str, keep: set[str | None]) -> list[Path]:
    """Delete the level's graph stores (``graphs-<key>.pt`` with its ``.sha256``, or a sharded
    ``graphs-<key>/`` folder) not named in ``keep``: the current one and the one before it, which
    a training that started earlier may still be reading. Returns what was deleted."""
    import shutil

    folder = layout.graphs_pointer(partition).parent
    removed = []
    for entry in sorted(folder.glob("graphs-*")):
        name = entry.name.removesuffix(".sha256")
        if name in keep:  # (temporary files and folders start with ".": not matched)
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def current_graphs_path(layout: Layout, partition: str) -> Path:
    pointer = json.loads(layout.graphs_pointer(partition).read_text(encoding="utf-8"))
    return layout.graphs_pointer(partition).parent / pointer["path"]
