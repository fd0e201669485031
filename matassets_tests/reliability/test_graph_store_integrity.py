"""Graph stores carry the sha256 they were written with and old ones do not pile up.

On the real smoke data: one flipped bit in the single-file store is refused when a training loads
it (it used to train silently), naming the file and how to rebuild it; the next ``crystal_graphs``
run notices and rebuilds the store instead of reusing it. Each new store (new data or settings)
prunes the stores before the previous one; the previous one stays for a training that may still
be reading it.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from matassets.data.pipeline import build_graphs, current_graphs_path
from matassets.graphs.sharded import CorruptGraphStoreError, load_store
from matassets.levels import DATA
from matassets.paths import Layout


def flip_bit(path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    k = len(data) // 2 if offset is None else offset
    data[k] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_flipped_bit_in_the_graph_store_is_refused_and_rebuilt(smoke_copy):
    layout = Layout(smoke_copy)
    path = current_graphs_path(layout, "smoke")
    original = load_store(path)
    flip_bit(path)
    with pytest.raises(CorruptGraphStoreError) as info:
        load_store(path)
    message = str(info.value)
    assert message.startswith(f"{path}: graph store corrupted (sha256 ")
    assert "materialize crystal_graphs" in message
    rebuilt, cached = build_graphs(layout, "smoke", DATA["smoke"])
    assert rebuilt == path and not cached  # noticed, rebuilt in place
    again = load_store(path)
    assert again.ids == original.ids and torch.equal(again.edge_dist, original.edge_dist)


def test_old_graph_stores_are_pruned_the_previous_one_kept(smoke_copy):
    layout = Layout(smoke_copy)
    folder = layout.graphs_pointer("smoke").parent
    first = current_graphs_path(layout, "smoke")
    paths = [first]
    for cutoff in (6.0, 7.0):
        preset = dataclasses.replace(DATA["smoke"], cutoff=cutoff)
        path, cached = build_graphs(layout, "smoke", preset)
        assert not cached
        paths.append(path)
    stores = sorted(p.name for p in folder.glob("graphs-*") if not p.name.endswith(".sha256"))
    assert stores == sorted(p.name for p in paths[1:])  # the first is gone, the previous one stays
    assert not (folder / f"{first.name}.sha256").exists()
    assert current_graphs_path(layout, "smoke") == paths[-1]
    for p in paths[1:]:
        load_store(p)  # each kept store matches its recorded hash
