"""Environment variables that a block of code may change but must not leave changed."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def restored(name: str) -> Iterator[None]:
    """On leaving the block, ``$name`` is what it was on entering it (unset if it was unset)."""
    before = os.environ.get(name)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before
