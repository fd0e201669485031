"""The wheels a lent GPU machine lacks for ``bench.gpu.levels``, in one archive under the carry limit.

The device machine (/work/.library/device/README.md) reaches no package registry and takes at most
64 MiB of working tree per call; its image (Python 3.12, torch 2.11 with CUDA) holds the packages of
``image_packages.txt``. ``matassets run`` needs :data:`CARRIED` beside them, at this environment's
versions (the project's pins), as cp312 wheels: over 70 MiB as downloaded, 51 of them polars' runtime.
Its extension module carries its symbol table; ``strip --strip-unneeded`` removes it (the code is
unchanged), the wheels are stored uncompressed and the lot xz-compressed: about 44 MiB in
``artifacts/gpu/wheels.tar.xz``, which ``bench.gpu.levels --bundle`` installs there without network.

    make gpu-bundle            # = .venv/bin/python -m bench.gpu.bundle [--out artifacts/gpu]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.metadata as md
import lzma
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARCHIVE = "wheels.tar.xz"
# What the CLI's training path imports beyond the image (found by running it with everything else
# hidden: matassets_tests/bench/test_gpu_levels.py keeps this list honest): the science stack,
# Dagster's own needs, then dvc-data's (a model's lineage metadata hashes its folder as DVC does).
# e3nn is on the image at another version; mace-torch pins 0.4.4.
CARRIED = (
    "ase", "e3nn", "lmdb", "mace-torch", "matscipy", "monty", "orjson", "polars", "polars-runtime-32",
    "prettytable", "pymatgen", "pymatgen-core", "pytz", "ruamel.yaml", "torch-ema", "tzdata", "wcwidth",
    "alembic", "annotated-types", "antlr4-python3-runtime", "coloredlogs", "dagster", "dagster-pipes",
    "dagster-shared", "docstring-parser", "greenlet", "grpcio-health-checking", "humanfriendly", "mako",
    "pathlib-abc", "platformdirs", "pydantic", "pydantic-core", "python-dotenv", "sqlalchemy",
    "structlog", "tomli", "tomlkit", "toposort", "typing-inspection", "universal-pathlib", "watchdog",
    "dvc-data", "dvc-objects", "dictdiffer", "diskcache", "funcy", "pygtrie", "sqltrie",
)  # fmt: skip
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
)
STRIPPED = "polars_runtime_32"  # the wheel whose extension module is stripped


def image_packages() -> set[str]:
    """The distributions on the device image (``image_packages.txt``), normalised names."""
    text = (Path(__file__).with_name("image_packages.txt")).read_text(encoding="utf-8")
    words = " ".join(line for line in text.splitlines() if not line.startswith("#")).split()
    return {normalise(w) for w in words}


def normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def download(folder: Path) -> list[Path]:
    """Every :data:`CARRIED` distribution at this environment's version, as a cp312 wheel."""
    pins = [f"{name}=={md.version(name)}" for name in CARRIED]
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
        "3.12", "--implementation", "cp", *platforms, "--disable-pip-version-check", "-q", "-d", str(folder),
    ]  # fmt: skip
    subprocess.run(cmd + pins, check=True)
    wheels = sorted(folder.glob("*.whl"))
    if len(wheels) != len(CARRIED):
        raise RuntimeError(f"{len(wheels)} wheels downloaded for {len(CARRIED)} distributions: {wheels}")
    return wheels


def stored(wheel: Path, out: Path, strip: bool) -> Path:
    """``wheel`` rewritten uncompressed into ``out`` (xz then compresses the bytes themselves); with
    ``strip``, its ``.so`` files stripped and their ``RECORD`` lines rewritten to match."""
    with zipfile.ZipFile(wheel) as source:
        infos = source.infolist()
        members = {i.filename: source.read(i) for i in infos}
    if strip:
        with tempfile.TemporaryDirectory() as tmp:
            for name in [n for n in members if n.endswith(".so")]:
                path = Path(tmp) / Path(name).name
                path.write_bytes(members[name])
                subprocess.run(["strip", "--strip-unneeded", str(path)], check=True)
                members[name] = path.read_bytes()
        record = next(n for n in members if n.endswith(".dist-info/RECORD"))
        members[record] = _record(members, record).encode()
    target = out / wheel.name
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as z:
        for info in infos:
            z.writestr(info, members[info.filename], zipfile.ZIP_STORED)
    return target


def _record(members: dict[str, bytes], record: str) -> str:
    lines = []
    for line in members[record].decode().splitlines():
        path = line.split(",")[0]
        if path in members and path != record:
            digest = base64.urlsafe_b64encode(hashlib.sha256(members[path]).digest()).rstrip(b"=").decode()
            line = f"{path},sha256={digest},{len(members[path])}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def build(out: Path) -> Path:
    """``out/wheels.tar.xz``: every carried wheel, stored, polars' runtime stripped."""
    carried = {normalise(n) for n in CARRIED} - {"e3nn"}
    if carried & image_packages():
        raise RuntimeError(f"already on the image, not to carry: {sorted(carried & image_packages())}")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        downloaded, repacked = Path(tmp) / "downloaded", Path(tmp) / "stored"
        downloaded.mkdir()
        repacked.mkdir()
        wheels = [stored(w, repacked, w.name.startswith(STRIPPED)) for w in download(downloaded)]
        archive = out / ARCHIVE
        with lzma.open(archive, "wb", preset=6) as xz, tarfile.open(fileobj=xz, mode="w") as tar:
            for wheel in wheels:
                tar.add(wheel, arcname=wheel.name)
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "artifacts" / "gpu"))
    args = parser.parse_args(argv)
    archive = build(Path(args.out))
    print(f"{archive}: {len(CARRIED)} wheels, {archive.stat().st_size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
