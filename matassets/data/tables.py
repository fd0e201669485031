"""Reading the stored parquet tables: a damaged one names its path and the asset that rebuilds it.

polars alone reports ``parquet: File out of specification …`` with no path, so a torn or damaged
table made every later run fail with a message that pointed nowhere.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl


class CorruptTableError(ValueError):
    """A stored table that cannot be read as parquet."""


def rebuild_hint(asset: str, partition: str) -> str:
    return f"materialize {asset} for level {partition} again (matassets data --level {partition})"


def read_table(path: Path, asset: str, partition: str) -> pl.DataFrame:
    """The parquet table at ``path``, written by ``asset`` for ``partition``; a file that is not
    readable parquet raises ``CorruptTableError`` naming the path and how to rebuild it."""
    try:
        return pl.read_parquet(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such table; {rebuild_hint(asset, partition)}") from None
    except (pl.exceptions.PolarsError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorruptTableError(
            f"{path}: not a readable parquet table ({reason}); {rebuild_hint(asset, partition)} to rebuild it"
        ) from exc
