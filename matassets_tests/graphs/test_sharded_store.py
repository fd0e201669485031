"""The sharded graph store gives the single-file store's graphs and batches, streams an epoch one
shard at a time, and refuses a damaged shard by name."""

import dataclasses

import numpy as np
import polars as pl
import pytest
import torch

from matassets.data import schema
from matassets.data.parsing import parse_structure
from matassets.data.pipeline import build_graphs, current_graphs_path
from matassets.graphs.sharded import CorruptGraphStoreError, ShardedGraphStore, build_sharded, load_store
from matassets.graphs.store import GraphStore
from matassets.levels import DATA
from matassets.paths import Layout

CUTOFF, NEIGHBORS = DATA["smoke"].cutoff, DATA["smoke"].max_neighbors


@pytest.fixture(scope="module")
def smoke_structures(smoke_root):
    clean = pl.read_parquet(Layout(smoke_root).structures("smoke"))
    ids = clean[schema.ID].to_list()
    return ids, [parse_structure(s, "pymatgen_json") for s in clean[schema.STRUCTURE]]


def sharded(path, smoke_structures, shard_size=37, cache_shards=2):
    ids, structures = smoke_structures
    build_sharded(path, iter(ids), iter(structures), CUTOFF, NEIGHBORS, shard_size)
    return ShardedGraphStore.load(path, cache_shards=cache_shards)


def assert_same_batch(a, b):
    assert a.num_graphs == b.num_graphs
    for name in ("z", "edge_index", "edge_dist", "edge_vec", "batch"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_sharded_store_gives_the_single_file_batches(smoke_root, smoke_structures, tmp_path):
    single = load_store(current_graphs_path(Layout(smoke_root), "smoke"))
    assert isinstance(single, GraphStore)  # the smoke level is far below sharded_above
    store = sharded(tmp_path / "graphs", smoke_structures)
    n = len(single)
    assert store.n_shards == -(-n // 37) > 3
    assert store.ids == single.ids
    assert store.stats() == single.stats()
    files = sorted((tmp_path / "graphs").glob("shard-*.pt"))
    assert len(files) == store.n_shards
    assert torch.load(files[1], weights_only=True)["ids"] == single.ids[37:74]  # plain store files
    rng = np.random.default_rng(0)
    cases = [
        np.arange(n),  # every shard, in order
        np.arange(n)[::-1],  # every shard, backwards
        np.array([40, 41, 45]),  # inside one shard
        np.array([36, 37]),  # across a shard boundary
        rng.permutation(n)[:64],  # a random batch, graphs from many shards
    ]
    for idx in cases:
        assert_same_batch(store.collate(idx), single.collate(idx))
    ids = [single.ids[i] for i in (150, 3, 77)]
    np.testing.assert_array_equal(store.index_of(ids), single.index_of(ids))


def test_an_epoch_loads_each_shard_once(smoke_structures, tmp_path):
    store = sharded(tmp_path / "graphs", smoke_structures, shard_size=20, cache_shards=2)
    train = np.arange(5, len(store), 2)  # a split: some graphs of every shard
    order = store.shuffle(train, seed=7)
    assert sorted(order.tolist()) == list(range(len(train)))
    assert not np.array_equal(order, store.shuffle(train, seed=8))
    np.testing.assert_array_equal(order, store.shuffle(train, seed=7))
    assert len(set(store.shard_of(train[order[:16]]))) == 2  # a batch mixes its window's shards
    for start in range(0, len(order), 16):
        store.collate(train[order[start : start + 16]])
    assert store.loads == store.n_shards
    single = GraphStore.build(*smoke_structures, CUTOFF, NEIGHBORS)
    assert_same_batch(store.collate(train[order[:16]]), single.collate(train[order[:16]]))


def test_damaged_shard_is_named(smoke_structures, tmp_path):
    path = tmp_path / "graphs"
    store = sharded(path, smoke_structures, shard_size=50)
    shard = path / "shard-00001.pt"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    store.collate(np.arange(10))  # shard 0 is intact
    with pytest.raises(CorruptGraphStoreError, match=r"shard-00001\.pt: shard corrupted"):
        store.collate(np.arange(45, 55))
    (path / "shard-00002.pt").unlink()
    with pytest.raises(CorruptGraphStoreError, match=r"shard-00002\.pt: shard missing"):
        ShardedGraphStore.load(path)


def test_a_failed_build_leaves_the_previous_store(smoke_structures, tmp_path):
    path = tmp_path / "graphs"
    sharded(path, smoke_structures, shard_size=50)
    before = (path / "index.json").read_text()
    ids, structures = smoke_structures

    def broken():
        yield from structures[:120]
        raise RuntimeError("source failed mid-way")

    with pytest.raises(RuntimeError, match="mid-way"):
        build_sharded(path, ids, broken(), CUTOFF, NEIGHBORS, 50)
    assert (path / "index.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["graphs"]  # no temporary folder left


@pytest.mark.slow
def test_large_partition_gets_a_sharded_store_and_trains(smoke_copy):
    from matassets.training.graph_model import RunSpec, invariant_architecture, train_graph_model

    layout = Layout(smoke_copy)
    single = load_store(current_graphs_path(layout, "smoke"))
    preset = dataclasses.replace(DATA["smoke"], sharded_above=0, shard_size=64)
    path, cached = build_graphs(layout, "smoke", preset)
    assert not cached and path.is_dir() and current_graphs_path(layout, "smoke") == path
    store = load_store(path)
    assert isinstance(store, ShardedGraphStore) and store.n_shards == -(-len(single) // 64)
    assert store.stats() == single.stats()
    from matassets.levels import CGCNN

    train = dataclasses.replace(CGCNN["smoke"], epochs=2, hidden=16)
    spec = RunSpec(
        asset="sharded_cgcnn",
        phase="phase1",
        algorithm="cgcnn",
        tasks=["formation_energy"],
        partition="smoke",
        architecture=invariant_architecture("cgcnn", train, preset),
        preset=train,
        data=preset,
        command="test",
    )
    out = train_graph_model(layout, spec, log=lambda m: None)
    assert out.fit.epochs_run == 2
    predicted = pl.read_csv(out.model_dir / "predictions.csv")
    assert predicted.height == sum(out.record["sizes"].values())
    assert set(predicted["id"]) <= set(single.ids)
    assert np.isfinite(out.metrics["test"]["formation_energy"]["mae"])


def test_the_same_graphs_saved_twice_are_the_same_bytes(smoke_structures, tmp_path):
    """A rebuilt store (or a retrained identical model: the same ``io.torch_save``) is byte-identical,
    so DVC records no new version: torch named the archive inside after the temporary file."""
    ids, structures = smoke_structures
    store = GraphStore.build(ids[:20], structures[:20], CUTOFF, NEIGHBORS)
    first, second = store.save(tmp_path / "a" / "graphs.pt"), store.save(tmp_path / "b" / "graphs.pt")
    assert first.read_bytes() == second.read_bytes()
