"""Node features from element properties (pymatgen's periodic table), CGCNN style.

Each element is described by one-hot encodings of its group (18), period (7) and block (4), and
10-bin one-hot encodings of electronegativity, atomic radius, first ionisation energy and electron
affinity, plus Z / 103 (which keeps lanthanides and actinides apart), after Xie & Grossman
(PRL 120, 145301, 2018, Table S2; their atom_init.json). A missing property (e.g. no Pauling
electronegativity for He) leaves its bins at zero. Elements Z = 1..103 are covered; every one is
distinct from every other by construction (tested).
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache

import numpy as np

MAX_Z = 103
N_BINS = 10
BINNED = {  # property: (low, high), values clipped into the bins
    "X": (0.5, 4.0),
    "atomic_radius": (0.25, 2.75),
    "ionization_energy": (3.5, 25.0),
    "electron_affinity": (-3.0, 3.7),
}
BLOCKS = ("s", "p", "d", "f")
N_FEATURES = 18 + 7 + len(BLOCKS) + N_BINS * len(BINNED) + 1


def _property(element, name: str) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if name == "ionization_energy":
                value = element.ionization_energies[0] if element.ionization_energies else None
            else:
                value = getattr(element, name)
        except (ValueError, KeyError, AttributeError, IndexError):
            return math.nan
    return math.nan if value is None else float(value)


def _one_hot(index: int | None, size: int) -> list[float]:
    out = [0.0] * size
    if index is not None and 0 <= index < size:
        out[index] = 1.0
    return out


@lru_cache(maxsize=1)
def element_features() -> np.ndarray:
    """A (MAX_Z + 1, N_FEATURES) float32 table; row Z holds element Z's features (row 0 unused).

    Cached and shared by every model of the process, so read-only; a model keeps a copy as its
    buffer (loading a state dict writes into the buffer)."""
    from pymatgen.core.periodic_table import Element

    table = np.zeros((MAX_Z + 1, N_FEATURES), dtype=np.float32)
    for z in range(1, MAX_Z + 1):
        el = Element.from_Z(z)
        group = el.group if el.block != "f" else None
        row = _one_hot(group - 1 if group else None, 18) + _one_hot(el.row - 1, 7)
        row += _one_hot(BLOCKS.index(el.block) if el.block in BLOCKS else None, len(BLOCKS))
        for name, (low, high) in BINNED.items():
            value = _property(el, name)
            if math.isnan(value):
                row += [0.0] * N_BINS
            else:
                frac = (min(max(value, low), high) - low) / (high - low)
                row += _one_hot(min(int(frac * N_BINS), N_BINS - 1), N_BINS)
        table[z] = row + [z / MAX_Z]
    table.setflags(write=False)
    return table
