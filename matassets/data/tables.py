"""The stored parquet tables: each carries the content hash it was written with, and a damaged or
changed one names its path and how to rebuild it.

:func:`write_table` writes the parquet file atomically, then its sha256 into ``files.sha256`` of its
folder (``io.write_manifest``: the record a model folder keeps). :func:`read_table` checks the bytes
against it before parsing, so a flipped bit that leaves the parquet readable is refused like a torn
file. polars alone reports ``parquet: File out of specification …`` with no path, and a readable
changed table passed silently.

A table written before tables carried a hash (no entry in ``files.sha256``) is read with a one-line
warning; ``structures`` does not reuse such a table (it validates again and writes it with its hash).
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from matassets.io import IntegrityError, atomic_write, check_against, read_manifest, write_manifest

log = logging.getLogger(__name__)
_warned: set[Path] = set()  # tables without a hash already named in this process (one warning each)


class CorruptTableError(ValueError):
    """A stored table that cannot be read as parquet, or whose bytes differ from its recorded hash."""


def rebuild_hint(asset: str, partition: str) -> str:
    return f"materialize {asset} for level {partition} again (matassets data --level {partition})"


def write_table(frame: pl.DataFrame | pl.LazyFrame, path: Path) -> Path:
    """Write ``frame`` to ``path`` (atomically; a LazyFrame is streamed, never collected whole) and
    record its sha256 in the folder's ``files.sha256``."""
    path = Path(path)
    if isinstance(frame, pl.LazyFrame):
        atomic_write(path, lambda tmp: frame.sink_parquet(tmp))
    else:
        atomic_write(path, lambda tmp: frame.write_parquet(tmp))
    write_manifest(path.parent, [path], keep=read_manifest(path.parent))
    return path


def has_hash(path: Path) -> bool:
    """Whether the table exists and ``files.sha256`` of its folder records a hash for it."""
    path = Path(path)
    return path.is_file() and path.name in (read_manifest(path.parent) or {})


def read_table(path: Path, asset: str, partition: str) -> pl.DataFrame:
    """The parquet table at ``path``, written by ``asset`` for ``partition``. A file whose bytes differ
    from its recorded sha256, or that is not readable parquet, raises ``CorruptTableError`` naming the
    path and how to rebuild it."""
    return _readable(scan_table(path, asset, partition), path, asset, partition, lambda f: f.collect())


def scan_table(path: Path, asset: str, partition: str) -> pl.LazyFrame:
    """``read_table``'s checks (its bytes against the recorded sha256, a readable parquet footer),
    then the table as a LazyFrame: read a slice or a few columns at a time."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such table; {rebuild_hint(asset, partition)}")
    manifest = read_manifest(path.parent) or {}
    if path.name in manifest:
        try:
            check_against(path, path.parent, manifest, "after it was written")
        except IntegrityError as exc:
            raise CorruptTableError(f"{exc}; {rebuild_hint(asset, partition)} to rebuild it") from None
    elif path not in _warned:
        _warned.add(path)
        hint = rebuild_hint(asset, partition)
        log.warning(
            "%s: no content hash recorded (written before tables carried one); %s to add it", path, hint
        )
    lazy = pl.scan_parquet(path)
    _readable(lazy, path, asset, partition, lambda f: f.collect_schema())
    return lazy


def _readable(frame: pl.LazyFrame, path: Path, asset: str, partition: str, read):
    try:
        return read(frame)
    except (pl.exceptions.PolarsError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorruptTableError(
            f"{path}: not a readable parquet table ({reason}); {rebuild_hint(asset, partition)} to rebuild it"
        ) from exc
