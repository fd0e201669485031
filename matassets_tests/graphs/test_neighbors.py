import numpy as np
import polars as pl
import pytest
from pymatgen.core import Lattice, Structure

from matassets.data.embedded import load_embedded
from matassets.data.parsing import parse_structure
from matassets.graphs.features import element_features
from matassets.graphs.neighbors import DECIMALS, build_graph
from matassets.graphs.store import GraphStore

A = 5.64  # rock-salt NaCl lattice constant, Å
ATOL = 10.0**-DECIMALS  # distances and vectors are rounded to DECIMALS decimals


@pytest.fixture
def nacl_primitive():
    """Hand-checkable rock salt: the 2-atom primitive cell, so every neighbour is a periodic image."""
    return Structure(
        Lattice([[0, A / 2, A / 2], [A / 2, 0, A / 2], [A / 2, A / 2, 0]]),
        ["Na", "Cl"],
        [[0, 0, 0], [0.5, 0.5, 0.5]],
    )


def test_rock_salt_has_six_nearest_neighbours_at_half_a(nacl_primitive):
    g = build_graph(nacl_primitive, cutoff=3.0, max_neighbors=12)
    assert g.edge_index.shape == (2, 12)  # 2 atoms x 6 neighbours, all periodic images
    np.testing.assert_allclose(g.edge_dist, A / 2, atol=ATOL)
    z = g.z[g.edge_index]
    assert np.all(z[0] != z[1])  # Na sees only Cl and vice versa
    for atom in (0, 1):
        vecs = g.edge_vec[g.edge_index[0] == atom]
        np.testing.assert_allclose(vecs.sum(0), 0, atol=ATOL)  # octahedron: vectors cancel
        np.testing.assert_allclose(np.abs(vecs).max(1), A / 2, atol=ATOL)  # along the cube axes


def test_twelve_neighbours_are_the_first_two_shells(nacl_primitive):
    g = build_graph(nacl_primitive, cutoff=8.0, max_neighbors=12)
    for atom in (0, 1):
        d = np.sort(g.edge_dist[g.edge_index[0] == atom])
        assert len(d) == 12
        np.testing.assert_allclose(d[:6], A / 2, atol=ATOL)
        np.testing.assert_allclose(d[6:], A / np.sqrt(2), atol=ATOL)  # 2nd shell: 12 like ions


def test_supercell_gives_the_same_neighbour_shells(nacl_primitive):
    big = build_graph(nacl_primitive * (2, 2, 2), cutoff=3.0, max_neighbors=12)
    assert big.edge_index.shape[1] == 16 * 6
    np.testing.assert_allclose(big.edge_dist, A / 2, atol=ATOL)


def test_store_batches_match_single_graphs(nacl_primitive):
    si = Structure(
        Lattice.cubic(5.43),
        ["Si"] * 8,
        [
            [0, 0, 0],
            [0, 0.5, 0.5],
            [0.5, 0, 0.5],
            [0.5, 0.5, 0],
            [0.25, 0.25, 0.25],
            [0.25, 0.75, 0.75],
            [0.75, 0.25, 0.75],
            [0.75, 0.75, 0.25],
        ],
    )
    store = GraphStore.build(["nacl", "si"], [nacl_primitive, si], 8.0, 12)
    batch = store.collate(np.array([1, 0]))
    assert batch.num_graphs == 2 and batch.z.tolist() == [14] * 8 + [11, 17]
    single = build_graph(si, 8.0, 12)
    np.testing.assert_array_equal(
        batch.edge_index[:, : single.edge_index.shape[1]].numpy(), single.edge_index
    )
    np.testing.assert_array_equal(batch.edge_index[:, single.edge_index.shape[1] :].min(), 8)
    data = store.to_data(0)
    assert data.x.shape == (2, element_features().shape[1]) and data.id == "nacl"


def test_every_element_has_distinct_features():
    table = element_features()[1:]
    assert len({tuple(row) for row in table}) == len(table)


def test_a_last_bit_change_of_a_structure_gives_the_same_graph():
    """Real crystals (the embedded set's first 40) with their lattice scaled by 1 + 1e-15, as another
    CPU's rounding moves a distance, give the same edges, distances and vectors: the graph store of
    the same data has the same bytes, hence the same DVC version, on every machine."""
    for row in load_embedded().head(40).iter_rows(named=True):
        structure = parse_structure(row["structure"], row["structure_format"])
        moved = structure.copy()
        moved.scale_lattice(structure.volume * (1 + 1e-15) ** 3)
        a, b = build_graph(structure, 8.0, 12), build_graph(moved, 8.0, 12)
        np.testing.assert_array_equal(a.edge_index, b.edge_index, err_msg=row["id"])
        np.testing.assert_array_equal(a.edge_dist, b.edge_dist, err_msg=row["id"])
        np.testing.assert_array_equal(a.edge_vec, b.edge_vec, err_msg=row["id"])


@pytest.mark.parametrize("material_id", ["mp-1266", "mp-1415"])
def test_the_last_bits_of_pymatgens_arithmetic_do_not_reach_the_graph(material_id):
    """These embedded crystals have a kept neighbour on a rounding boundary of ``DECIMALS``
    (4.84615 and 4.21765 Å; mp-1266 has it twice, a last bit apart): its rounded value was decided
    by the last bit of pymatgen's distance, which comes from Cartesian coordinates that BLAS
    computes differently on another CPU (a fifth machine built other std graphs). pymatgen's
    distances one bit up or down give the same graph."""
    row = load_embedded().filter(pl.col("id") == material_id).row(0, named=True)
    structure = parse_structure(row["structure"], row["structure_format"])
    scaled = structure.get_neighbor_list(r=8.0)[3] * 10**DECIMALS
    assert np.any(np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6)  # the boundary is there
    base = build_graph(structure, 8.0, 12)
    for direction in (np.inf, -np.inf):
        nudged = structure.copy()

        def neighbor_list(r, own=nudged.get_neighbor_list, direction=direction):
            centers, neighbors, images, dist = own(r=r)
            return centers, neighbors, images, np.nextafter(dist, direction)

        nudged.get_neighbor_list = neighbor_list
        graph = build_graph(nudged, 8.0, 12)
        np.testing.assert_array_equal(graph.edge_index, base.edge_index)
        np.testing.assert_array_equal(graph.edge_dist, base.edge_dist)
        np.testing.assert_array_equal(graph.edge_vec, base.edge_vec)
