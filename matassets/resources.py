"""Dagster resources: where the project's files live."""

import dagster as dg

from matassets.paths import Layout, default_root


class ProjectResource(dg.ConfigurableResource):
    """The folder holding ``data/`` and ``models/`` (default: ``$MATASSETS_ROOT`` or the checkout)."""

    root: str = ""

    @property
    def layout(self) -> Layout:
        from pathlib import Path

        return Layout(Path(self.root) if self.root else default_root())
