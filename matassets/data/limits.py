"""Limits checked before any parsing, so a hostile or mistaken input costs a stat() and a message,
not minutes and gigabytes. Each message names the limit and the environment variable that raises it.

| limit | default | raise it with |
|---|---|---|
| one structure file (CIF/POSCAR) or one structure cell of a table | 20 MB | ``MATASSETS_MAX_STRUCTURE_MB`` |
| one table (CSV/JSON, targets CSV, extended XYZ) | 2048 MB | ``MATASSETS_MAX_TABLE_MB`` |
| nesting depth of a JSON document | 64 | ``MATASSETS_MAX_JSON_DEPTH`` |

The site count is the level's ``max_sites`` (``matassets/levels.py``, ``--set max_sites=N``), read from
the POSCAR count line or the CIF's atom-site loop before the structure is parsed
(``parsing.count_sites``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Limit:
    what: str
    env: str
    default: float
    unit: str  # "MB" or "" (a count)

    @property
    def value(self) -> float:
        raw = os.environ.get(self.env, "").strip()
        try:
            return float(raw) if raw else self.default
        except ValueError:
            return self.default

    def _message(self, measured: str) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return (
            f"{self.what} is {measured}, over the limit of {self.value:g}{unit}; "
            f"raise it with {self.env}=<larger> if this input is meant"
        )

    def check_size(self, nbytes: int) -> str | None:
        """None, or why ``nbytes`` is too many (the limit is in MB)."""
        if nbytes > self.value * 1e6:
            return self._message(f"{nbytes / 1e6:.1f} MB")
        return None

    def check_json(self, text: str) -> str | None:
        """None, or why ``text`` nests deeper than the limit (measured without parsing it)."""
        depth = json_depth(text)
        if depth > self.value:
            return self._message(f"nested {depth} levels deep")
        return None


STRUCTURE_FILE = Limit("the structure file", "MATASSETS_MAX_STRUCTURE_MB", 20.0, "MB")
TABLE_FILE = Limit("the table file", "MATASSETS_MAX_TABLE_MB", 2048.0, "MB")
JSON_DEPTH = Limit("the JSON document", "MATASSETS_MAX_JSON_DEPTH", 64, "")

_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in a JSON text, strings skipped; no recursion, no parse."""
    data = _STRINGS.sub(b'""', text.encode("utf-8", "replace"))
    arr = np.frombuffer(data, dtype=np.uint8)
    step = np.zeros(arr.shape, dtype=np.int32)
    step[(arr == ord("[")) | (arr == ord("{"))] = 1
    step[(arr == ord("]")) | (arr == ord("}"))] = -1
    if not step.any():
        return 0
    return int(np.cumsum(step).max())
