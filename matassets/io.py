"""Atomic file writes and content hashes: a crash never leaves a half-written file in place."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask (read without changing it where Linux allows, else set and restored)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def torch_save(obj, path: Path) -> None:
    """``torch.save`` through an open file: the zip archive inside is then always named ``archive``.
    Given a path, torch names it after the file, and ``atomic_write``'s temporary name differs every
    time: the same tensors gave other bytes on every save, so a rebuilt graph store or a retrained
    identical model was a new DVC version."""
    import torch

    with open(path, "wb") as handle:
        torch.save(obj, handle)


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``.

    The file gets the permissions a plain ``open()`` would give it (0666 less the umask: readable by
    the user's group where the umask allows), not ``mkstemp``'s private 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_json(path: Path, data: object) -> Path:
    text = json.dumps(data, indent=2, sort_keys=True, default=str)
    return atomic_write(path, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))


def read_json_dict(path: Path) -> dict | None:
    """The JSON object in ``path``; None when the file is missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def sha256_file(path: Path, length: int = 16) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]


def sha256_text(text: str, length: int = 16) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


# ------------------------------------------------------------ files.sha256: a folder's content hashes

MANIFEST = "files.sha256"  # ``<sha256>  <relative/path>`` per line, as ``sha256sum -c`` reads it


class IntegrityError(ValueError):
    """A file's bytes differ from the sha256 its folder's ``files.sha256`` recorded (or a listed file
    is missing)."""


def read_manifest(folder: Path) -> dict[str, str] | None:
    """``{relative path: sha256}`` from ``folder/files.sha256``; None when there is none."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split("  ", 1)
            out[name] = digest
    return out


def write_manifest(folder: Path, files: Iterable[Path], keep: Mapping[str, str] | None = None) -> Path:
    """Write ``folder/files.sha256`` (atomically): the sha256 of each of ``files`` (paths under
    ``folder``), with the entries of ``keep`` for the files not hashed again."""
    folder = Path(folder)
    entries = dict(keep or {})
    for path in files:
        entries[Path(path).relative_to(folder).as_posix()] = sha256_file(path, length=64)
    text = "".join(f"{digest}  {name}\n" for name, digest in sorted(entries.items()))
    return atomic_write(folder / MANIFEST, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def check_against(path: Path, folder: Path, manifest: Mapping[str, str], what: str) -> None:
    """Raise :class:`IntegrityError` naming ``path`` when it is missing or its bytes differ from the
    sha256 ``manifest`` (``folder``'s ``files.sha256``) records for it; ``what`` says when it was
    written ("after training")."""
    name = Path(path).relative_to(folder).as_posix()
    if not Path(path).is_file():
        raise IntegrityError(f"{path}: listed in {Path(folder) / MANIFEST} but missing")
    found = sha256_file(path, length=64)
    if found != manifest[name]:
        raise IntegrityError(
            f"{path}: content does not match {Path(folder) / MANIFEST} (recorded {manifest[name][:16]}, "
            f"found {found[:16]}): the file was changed {what}; refusing to use it"
        )


def replace_dir(staging: Path, final: Path) -> Path:
    """Put a fully written ``staging`` folder at ``final``; the old version is removed only after.

    Two renames: a crash between them leaves ``final.previous`` (the old version, intact).
    """
    import shutil

    final = Path(final)
    previous = final.with_name(final.name + ".previous")
    if previous.exists():
        shutil.rmtree(previous)
    if final.exists():
        os.replace(final, previous)
    os.replace(staging, final)
    if previous.exists():
        shutil.rmtree(previous)
    return final


_FORMULA_START = ("=", "+", "-", "@")


def csv_cell(value: object) -> object:
    """A CSV cell a spreadsheet or a terminal shows as text: in a string, every control or
    invisible formatting character (newline, ESC, a right-to-left override …) is written as its
    backslash escape, and a leading ``= + - @`` (a formula to a spreadsheet) gets a ``'`` before
    it. Numbers and other values pass unchanged."""
    if not isinstance(value, str):
        return value
    if not value.isprintable():
        value = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in value)
    return "'" + value if value.startswith(_FORMULA_START) else value
