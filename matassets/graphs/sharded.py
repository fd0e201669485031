"""A sharded graph store: a folder of ``GraphStore`` files and an index, for data sets too large to
hold in memory at once.

Layout of the folder::

    index.json          format version, graph settings, shard size, and for every shard its file,
                        graph count, ids, sha256 and totals (atoms, edges, summed edge length)
    shard-00000.pt      a normal GraphStore file (``GraphStore.load``, ``torch.load(weights_only=True)``)
    shard-00001.pt      …

Building streams: ids and structures are read from iterables one shard at a time, graphed, saved
and dropped, so the peak memory is one shard's graphs whatever the number of structures. The
folder is written under a temporary name beside its target and renamed into place when complete:
a crash leaves no half-written store.

Reading holds at most ``cache_shards`` shards in memory (least recently used dropped first); a
shard is checked against its sha256 when it is loaded. ``collate(indices)`` gives the same batch as
the single-file store would. ``shuffle`` is where the two differ, and it is a trade-off: a global
random order would touch a different shard for almost every graph (one shard load per graph once
the data outgrow the cache), so an epoch instead shuffles the shard order, cuts it into windows of
``cache_shards`` shards and shuffles the graphs within each window. Each shard is then loaded once
per epoch, but a batch only mixes graphs of the ``cache_shards`` shards of its window, not of the
whole data set: batches are less independent than with a global shuffle, most of all when the
source table is sorted (by formula, by id …) and the shards are few. More shards per window (a
larger cache) or smaller shards bring it closer to a global shuffle at the cost of memory or of
more loads per epoch.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Iterable
from itertools import islice
from pathlib import Path

import numpy as np

from matassets.graphs.store import CorruptGraphStoreError, GraphBatch, GraphStore, index_in, summary_stats
from matassets.io import replace_dir, sha256_file, write_json

FORMAT_VERSION = 1
INDEX = "index.json"


def load_store(path: Path) -> GraphStore | ShardedGraphStore:
    """The graph store at ``path``: a single file (``GraphStore``) or a sharded store's folder
    (``ShardedGraphStore``); both give ``ids``, ``index_of``, ``collate``, ``shuffle``, ``stats``."""
    if Path(path).is_dir():
        return ShardedGraphStore.load(path)
    return GraphStore.load(path)


def build_sharded(
    path: Path,
    ids: Iterable[str],
    structures: Iterable,
    cutoff: float,
    max_neighbors: int,
    shard_size: int,
) -> Path:
    """Graph ``structures`` (paired with ``ids``) into a sharded store at ``path``, one shard of
    ``shard_size`` structures at a time; ``structures`` may be a generator."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        shards = []
        pairs = zip(ids, structures, strict=True)
        while chunk := list(islice(pairs, shard_size)):
            store = GraphStore.build([i for i, _ in chunk], [s for _, s in chunk], cutoff, max_neighbors)
            del chunk
            name = f"shard-{len(shards):05d}.pt"
            store.save(tmp / name, record_digest=False)  # the index holds the shard hashes
            shards.append(
                {
                    "file": name,
                    "count": len(store),
                    "ids": store.ids,
                    "sha256": sha256_file(tmp / name, length=64),
                    **store.totals(),
                }
            )
            del store
        write_json(
            tmp / INDEX,
            {
                "format_version": FORMAT_VERSION,
                "settings": {"cutoff": cutoff, "max_neighbors": max_neighbors},
                "shard_size": shard_size,
                "shards": shards,
            },
        )
        return replace_dir(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


class ShardedGraphStore:
    """The reading side of a sharded store; the same batches as ``GraphStore`` (see module doc)."""

    def __init__(self, path: Path, index: dict, cache_shards: int = 4) -> None:
        self.path = Path(path)
        self.index = index
        self.settings = index["settings"]
        self.cache_shards = max(1, cache_shards)
        counts = np.array([s["count"] for s in index["shards"]], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(counts)])  # shard k: [offsets[k], offsets[k+1])
        self.ids = [i for s in index["shards"] for i in s["ids"]]
        self._cache: OrderedDict[int, GraphStore] = OrderedDict()
        self.loads = 0  # shard loads so far (the cost a shuffle keeps down)

    @classmethod
    def load(cls, path: Path, cache_shards: int = 4) -> ShardedGraphStore:
        path = Path(path)
        index_path = path / INDEX
        if not index_path.exists():
            raise CorruptGraphStoreError(f"{index_path}: missing; rebuild the graph store")
        index = json.loads(index_path.read_text(encoding="utf-8"))
        if index.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{index_path}: sharded graph store format is not version {FORMAT_VERSION}; rebuild it"
            )
        missing = [s["file"] for s in index["shards"] if not (path / s["file"]).exists()]
        if missing:
            raise CorruptGraphStoreError(
                f"{path / missing[0]}: shard missing ({len(missing)} of {len(index['shards'])} "
                "shards are); rebuild the graph store"
            )
        return cls(path, index, cache_shards)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_shards(self) -> int:
        return len(self.index["shards"])

    def index_of(self, ids: list[str]) -> np.ndarray:
        return index_in(self.ids, ids)

    def stats(self) -> dict[str, float]:
        shards = self.index["shards"]
        return summary_stats(
            len(self),
            sum(s["atoms"] for s in shards),
            sum(s["edges"] for s in shards),
            sum(s["edge_length_sum"] for s in shards),
        )

    def shard_of(self, graph_indices: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.offsets, np.asarray(graph_indices), side="right") - 1

    def shard(self, k: int) -> GraphStore:
        """Shard ``k``, from the cache or from disk after its hash is checked."""
        if k in self._cache:
            self._cache.move_to_end(k)
            return self._cache[k]
        entry = self.index["shards"][k]
        file = self.path / entry["file"]
        if not file.exists():
            raise CorruptGraphStoreError(f"{file}: shard missing; rebuild the graph store")
        digest = sha256_file(file, length=64)
        if digest != entry["sha256"]:
            raise CorruptGraphStoreError(
                f"{file}: shard corrupted (sha256 {digest[:12]}… but {entry['sha256'][:12]}… was "
                "written); rebuild the graph store"
            )
        store = GraphStore.load(file)
        self.loads += 1
        self._cache[k] = store
        while len(self._cache) > self.cache_shards:
            self._cache.popitem(last=False)
        return store

    def collate(self, graph_indices: np.ndarray) -> GraphBatch:
        g = np.asarray(graph_indices, dtype=np.int64)
        shards = self.shard_of(g)
        if len(g) and np.all(shards == shards[0]):
            return self.shard(int(shards[0])).collate(g - self.offsets[shards[0]])
        # shards in the order the batch first needs them: a batch that crosses into the next
        # window of ``shuffle`` loads the new window's shards last, so they stay in the cache
        visit = shards[np.sort(np.unique(shards, return_index=True)[1])]
        groups = [np.flatnonzero(shards == k) for k in visit]
        pieces = [
            self.shard(int(k)).select(g[pos] - self.offsets[k]) for k, pos in zip(visit, groups, strict=True)
        ]
        order = np.concatenate(groups)  # graphs grouped by shard, then put back in order
        return GraphStore.concat(pieces).collate(np.argsort(order))

    def shuffle(self, graph_indices: np.ndarray, seed: int) -> np.ndarray:
        """A seeded epoch order of the positions ``0 … len(graph_indices) - 1``: shards in a random
        order, in windows of ``cache_shards`` shards, graphs shuffled within each window."""
        rng = np.random.default_rng(seed)
        shard_rank = np.empty(self.n_shards, dtype=np.int64)
        shard_rank[rng.permutation(self.n_shards)] = np.arange(self.n_shards)
        window = shard_rank[self.shard_of(graph_indices)] // self.cache_shards
        return np.lexsort((rng.random(len(graph_indices)), window))
