"""Features for the composition classifier.

- Composition: matminer's Magpie ``ElementProperty`` preset (Ward et al., npj Comput. Mater. 2, 16028
  (2016)): minimum, maximum, range, mean, average deviation and mode over the elements of 22 element
  properties, 132 numbers, from matminer's shipped Magpie tables (no network).
- Space group (optional, ``spacegroup_features``): its number, the crystal system one-hot (7) and whether
  the point group contains inversion; the point group comes from spglib's space-group tables. The
  Arsenal labels belong to (formula, space group) keys, and one formula can be trivial in one space
  group and topological in another, which no composition-only model can tell apart.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

CRYSTAL_SYSTEMS: tuple[tuple[str, int], ...] = (  # (name, last space-group number), ITA ranges
    ("triclinic", 2),
    ("monoclinic", 15),
    ("orthorhombic", 74),
    ("tetragonal", 142),
    ("trigonal", 167),
    ("hexagonal", 194),
    ("cubic", 230),
)
# the 11 centrosymmetric (Laue) point groups
CENTROSYMMETRIC = frozenset({"-1", "2/m", "mmm", "4/m", "4/mmm", "-3", "-3m", "6/m", "6/mmm", "m-3", "m-3m"})


@lru_cache(maxsize=1)
def _featurizer():
    from matminer.featurizers.composition import ElementProperty

    return ElementProperty.from_preset("magpie", impute_nan=True)


def composition_feature_names() -> list[str]:
    return list(_featurizer().feature_labels())


def spacegroup_feature_names() -> list[str]:
    return ["spacegroup number"] + [f"crystal system {n}" for n, _ in CRYSTAL_SYSTEMS] + ["centrosymmetric"]


def feature_names(spacegroup_features: bool) -> list[str]:
    return composition_feature_names() + (spacegroup_feature_names() if spacegroup_features else [])


@lru_cache(maxsize=1)
def _point_groups() -> dict[int, str]:
    import warnings

    import spglib

    out: dict[int, str] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # spglib's notice on its error handling
        for hall in range(1, 531):  # every Hall setting; the first of each number is enough
            sg = spglib.get_spacegroup_type(hall)
            out.setdefault(sg.number, sg.pointgroup_international)
    return out


def spacegroup_features(number: int) -> list[float]:
    if not 1 <= int(number) <= 230:
        raise ValueError(f"space group {number} outside 1..230")
    system = next(i for i, (_, last) in enumerate(CRYSTAL_SYSTEMS) if number <= last)
    one_hot = [float(i == system) for i in range(len(CRYSTAL_SYSTEMS))]
    return [float(number), *one_hot, float(_point_groups()[int(number)] in CENTROSYMMETRIC)]


def composition_features(formulas: list[str]) -> np.ndarray:
    """Magpie features of each formula, (n, 132) float64; each distinct formula computed once."""
    import warnings

    from pymatgen.core import Composition

    featurizer = _featurizer()
    cache: dict[str, list[float]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f in formulas:
            if f not in cache:
                cache[f] = featurizer.featurize(Composition(f))
    return np.array([cache[f] for f in formulas], dtype=np.float64).reshape(len(formulas), -1)


def featurize(formulas: list[str], spacegroups: list[int], use_spacegroup: bool) -> np.ndarray:
    """The classifier's input matrix; columns named by ``feature_names(use_spacegroup)``."""
    x = composition_features(formulas)
    if use_spacegroup:
        sg = np.array([spacegroup_features(n) for n in spacegroups], dtype=np.float64)
        x = np.hstack([x, sg.reshape(len(formulas), -1)])
    return x
