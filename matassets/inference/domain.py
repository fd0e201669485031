"""Which elements a model saw in training, so a prediction for a crystal with another can say so.

A trained folder's ``config.json`` holds ``training_elements``: {element symbol: how many crystals
of the training split hold it} (``counts`` of their formulas, for graph models and composition
forests alike). No weight learned anything from an element the model never saw: CGCNN describes
it by its periodic-table properties (``graphs.features``), judged from other elements; SchNet's
embedding of it and CGCNN's per-element output term keep their initial values; a composition
forest's feature of it was always 0. The prediction extrapolates, and an ensemble's spread grows
less than its error there (docs/uncertainty.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

KEY = "training_elements"


def symbols(formula: str) -> set[str]:
    """The element symbols of a chemical formula."""
    from pymatgen.core import Composition

    return {e.symbol for e in Composition(formula).elements}


def counts(formulas: Iterable[str]) -> dict[str, int]:
    """{element symbol: how many of ``formulas`` hold it}."""
    return dict(Counter(e for f in formulas for e in symbols(f)))


def unseen(config: dict, formula: str) -> list[str] | None:
    """The elements of ``formula`` that no training crystal of the model (``config``, its folder's
    config.json) held, in alphabetical order, or None for a folder written before training recorded
    them."""
    seen = config.get(KEY)
    return None if seen is None else sorted(symbols(formula) - set(seen))
