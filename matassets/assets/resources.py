"""Dagster resources: where the project's files live."""

import dagster as dg

from matassets.paths import Layout, default_root


class ProjectResource(dg.ConfigurableResource):
    """The folder holding ``data/`` and ``models/`` (default: ``$MATASSETS_ROOT`` or the checkout)."""

    root: str = ""
    # Commit each materialization to DVC and use its content hash as the data version.
    # None: on exactly when the root is a DVC project with a dvc.yaml (not in tests' tmp roots).
    dvc: bool | None = None

    @property
    def layout(self) -> Layout:
        from pathlib import Path

        return Layout(Path(self.root) if self.root else default_root())

    @property
    def dvc_enabled(self) -> bool:
        from matassets.versioning import dvc_repo

        return dvc_repo(self.layout.root) if self.dvc is None else self.dvc
