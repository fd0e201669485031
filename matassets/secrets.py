"""Secrets (e.g. a Materials Project API key) come from the environment only and never get logged.

    from matassets.secrets import get_secret
    key = get_secret("MP_API_KEY")      # MissingSecretError names the variable if it is unset
    client = SomeClient(api_key=key.reveal())   # reveal() only where the value is handed over

A ``Secret`` prints, formats, logs and ``repr``s as ``***``; it refuses to be pickled or compared,
so it cannot slip into a run record, a Dagster config or a log line. Never put a secret in a
Dagster run config or resource field: the UI shows those.
"""

from __future__ import annotations

import os

MASK = "***"


class MissingSecretError(RuntimeError):
    """A secret the user has to export in the environment."""


class Secret:
    """A value read from the environment that shows itself as ``***``."""

    __slots__ = ("name", "_value")

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self._value = value

    def reveal(self) -> str:
        """The value itself, for the one call that needs it (never for logging)."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.name}={MASK})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self):
        raise TypeError(f"the secret {self.name} is not serialised; keep it in the environment")

    def __eq__(self, other: object) -> bool:  # no timing-leaky or accidental comparisons
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


def get_secret(name: str, required: bool = True) -> Secret | None:
    """The environment variable ``name`` as a ``Secret`` (``None`` if unset and not required)."""
    value = os.environ.get(name, "").strip()
    if value:
        return Secret(name, value)
    if required:
        raise MissingSecretError(
            f"{name} is not set; export it in the environment (secrets are never read from "
            "files, run config or the command line)"
        )
    return None


def redact(text: str, *secrets: Secret | None) -> str:
    """``text`` with every given secret's value replaced by ``***`` (for error messages)."""
    for secret in secrets:
        if secret is not None and secret.reveal():
            text = text.replace(secret.reveal(), MASK)
    return text
