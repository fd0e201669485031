"""The benchmark children run on today's code: a moved import broke ``make bench`` after 10 minutes
of measuring once (``bench.graph_memory`` imported ``load_store`` from its old module). Each child
runs here at a tiny size, so a rename fails the suite instead of the next full bench."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import graph_memory, ingestion

pytestmark = pytest.mark.slow  # subprocesses and graph building: not in make test-fast


@pytest.mark.parametrize("kind", graph_memory.KINDS)
def test_graph_memory_children_build_and_stream_a_real_store(tmp_path: Path, kind: str):
    path = tmp_path / ("graphs" if kind == "sharded" else "graphs.pt")
    built = graph_memory._child("build", kind, 40, path)
    streamed = graph_memory._child("stream", kind, 40, path)
    assert built["per_s"] > 0 and built["disk_mb"] > 0
    assert streamed["stream_graphs_per_s"] > 0


def test_ingestion_child_reads_validates_and_builds_graphs(tmp_path: Path):
    folder = ingestion.write_corpus(tmp_path / "cif", 30)
    row = ingestion.child(folder, workers=1)
    assert row["structures"] == 30 and 0 < row["clean"] <= 30
    assert row["graphs"] == row["clean"]
