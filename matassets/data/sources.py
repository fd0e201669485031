"""Pick a data source by name and return the canonical table."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from matassets.paths import Layout, default_root

SOURCES = ("embedded", "jarvis", "files")


def load_source(
    kind: str,
    path: str = "",
    targets: str = "",
    cache_dir: Path | None = None,
    target: str = "formation_energy",
) -> pl.DataFrame:
    """``embedded`` (default snapshot), ``jarvis`` (JARVIS-DFT dft_3d) or ``files`` (user data).

    ``target`` names the property of a headerless two-column targets file (ALIGNN's id_prop.csv).
    """
    if kind == "embedded":
        from matassets.data.embedded import EMBEDDED_FILE, load_embedded

        return load_embedded(Path(path) if path else EMBEDDED_FILE)
    if kind == "jarvis":
        from matassets.data.jarvis import load_dft_3d

        return load_dft_3d(Path(path) if path else cache_dir or Layout(default_root()).jarvis_cache())
    if kind == "files":
        from matassets.data.user_files import load_user_source

        if not path:
            raise ValueError("source 'files' needs a path: a folder of CIF/POSCAR files or a CSV/JSON")
        return load_user_source(Path(path), Path(targets) if targets else None, target=target)
    raise ValueError(f"unknown source {kind!r}; choose one of {', '.join(SOURCES)}")
