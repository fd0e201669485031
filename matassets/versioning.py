"""DVC in step with the assets: the stages of ``dvc.yaml``, and a content hash per materialization.

Every file-producing asset is one DVC stage with a ``matrix`` over the six partitions; the stage
``<asset>@<partition>`` runs ``matassets materialize --asset <asset> --level <partition>``. Its outputs
are the files the asset writes (``matassets/paths.py``), its dependencies the outputs of the assets
upstream of it, so ``dvc.yaml`` and the Dagster asset graph say the same thing (a test checks).

After an asset has written its files, :func:`record` runs ``dvc commit -f <asset>@<partition>`` (the
files go to the DVC cache and their hashes to ``dvc.lock``) and returns the DVC content hash, which the
asset hands to Dagster as its data version: staleness in the UI then follows the real content.

Where an asset's files are, in this order:
1. its Dagster metadata ``dvc_outs``: path templates relative to the root with ``{partition}``
   (``[]``: the asset writes no files and gets no stage);
2. :data:`DATA_OUTS` for the data assets;
3. ``models/<asset>/<partition>/`` (``Layout.model_dir``), the convention of every model asset.
Files an asset reads that no asset produces (an embedded snapshot in git) go in its ``dvc_deps``
metadata, or :data:`SOURCE_DEPS`.

No dagster import here; the Dagster side is ``matassets.assets.common.versioned``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from matassets.io import MANIFEST
from matassets.levels import PARTITIONS
from matassets.paths import Layout

DVC_YAML = "dvc.yaml"
DVC_LOCK = "dvc.lock"
LEVEL = "${item.level}"  # the matrix variable in dvc.yaml
HEADER = (
    "# Generated from the Dagster asset graph by `matassets dvc-yaml`; do not edit by hand.\n"
    "# One stage per file-producing asset, a matrix over the partitions: `dvc repro <asset>@<level>`.\n"
)

log = logging.getLogger(__name__)

DATA_OUTS: dict[str, Callable[[Layout, str], list[Path]]] = {
    # a table's content hash (``files.sha256`` of its folder, ``data.tables``) travels with it
    "raw_structures": lambda layout, p: [layout.raw(p), layout.raw(p).parent / MANIFEST],
    "structures": lambda layout, p: [
        layout.structures(p),
        layout.quarantine(p),
        layout.structures(p).parent / MANIFEST,
    ],
    "splits": lambda layout, p: [layout.split_manifest(p)],
    # the graph cache folder: current.json and the graph files it points at
    "crystal_graphs": lambda layout, p: [layout.graphs_pointer(p).parent],
    "topo_db": lambda layout, p: [layout.topo_db(p)],
}

# Inputs in git that no asset produces (a stage without dependencies would always be "changed").
SOURCE_DEPS: dict[str, list[str]] = {
    "raw_structures": ["data/embedded/mp_matminer_joined.json.gz"],
    "topo_db": ["data/topogivity"],
}


class DvcError(RuntimeError):
    """A dvc command failed; the message carries its output."""


@dataclass(frozen=True)
class AssetFiles:
    """What dvc.yaml needs to know of one asset (read from the Dagster asset graph by the CLI)."""

    name: str
    upstream: tuple[str, ...] = ()
    declared_outs: tuple[str, ...] | None = None  # the asset's ``dvc_outs`` metadata
    declared_deps: tuple[str, ...] = ()  # the asset's ``dvc_deps`` metadata
    partitioned: bool = True


def stage_name(asset: str) -> str:
    """``asset``'s stage in dvc.yaml: its name, a registered data set's ``D/x`` as ``D-x`` (DVC
    allows no ``/`` in a stage name; neither data-set nor asset names hold a ``-``)."""
    return asset.replace("/", "-")


def outs_for(layout: Layout, asset: str, partition: str, declared: Sequence[str] | None = None):
    """The files and folders ``asset`` writes for ``partition`` (see the module docstring); a
    registered data set's ``D/x`` writes what ``x`` writes, in D's folders (``Layout.for_dataset``)."""
    if declared is not None:
        return [layout.root / t.format(partition=partition, asset=asset) for t in declared]
    dataset, _, asset = asset.rpartition("/")
    if dataset:
        layout = layout.for_dataset(dataset)
    if asset in DATA_OUTS:
        return DATA_OUTS[asset](layout, partition)
    return [layout.model_dir(asset, partition)]


@dataclass
class Stage:
    name: str
    cmd: str
    deps: list[str] = field(default_factory=list)
    outs: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        body: dict = {"matrix": {"level": list(PARTITIONS)}, "cmd": self.cmd}
        if self.deps:
            body["deps"] = self.deps
        body["outs"] = self.outs
        return body


def build_stages(assets: Sequence[AssetFiles]) -> list[Stage]:
    """One stage per partitioned asset that writes files, in the given (topological) order."""
    template = Layout(Path(""))
    by_name = {a.name: a for a in assets}

    def outs(a: AssetFiles) -> list[str]:
        return [p.as_posix() for p in outs_for(template, a.name, LEVEL, a.declared_outs)]

    stages = []
    for a in assets:
        if not a.partitioned or not outs(a):
            continue
        deps = list(a.declared_deps) or list(SOURCE_DEPS.get(a.name, []))
        for up in a.upstream:
            if up in by_name and by_name[up].partitioned:
                deps += [d for d in outs(by_name[up]) if d not in deps]
        cmd = f"matassets materialize --asset {a.name} --level {LEVEL}"
        stages.append(Stage(stage_name(a.name), cmd, deps, outs(a)))
    return stages


class _Inline(list):
    """A list written on one line (the matrix values)."""


def render_dvc_yaml(stages: Sequence[Stage]) -> str:
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(
        _Inline, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
    )
    data = {"stages": {s.name: s.as_dict() for s in stages}}
    for body in data["stages"].values():
        body["matrix"]["level"] = _Inline(body["matrix"]["level"])
    text = yaml.dump(data, Dumper=Dumper, sort_keys=False, default_flow_style=False, width=110)
    return HEADER + text


# ---------------------------------------------------------------- runtime: commit and hash


def dvc_repo(root: Path) -> bool:
    """A DVC project with a dvc.yaml: where materializations are committed to DVC."""
    return (Path(root) / ".dvc").is_dir() and (Path(root) / DVC_YAML).is_file()


def dvc_executable() -> list[str]:
    """The ``dvc`` beside this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("dvc")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("dvc")
    if found:
        return [found]
    return [sys.executable, "-m", "dvc"]


def run_dvc(root: Path, *args: str, check: bool = True, timeout: float = 3600):
    """Run ``dvc <args>`` in ``root`` with analytics off; raise :class:`DvcError` when it fails."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(
        [*dvc_executable(), *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise DvcError(f"dvc {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


_YAML_CACHE: dict[str, dict] = {}


def read_yaml(path: Path) -> dict:
    """``dvc.yaml`` / ``dvc.lock`` parsed (``{}`` for an empty file), with libyaml's loader where
    PyYAML has it, and parsed once per content (keyed by the text's hash): a model's lineage asks
    for many stages, and a data set's stages make dvc.yaml long (parsing it per stage was most of a
    smoke run's fixed cost). The result is shared: callers only read it."""
    import yaml

    text = Path(path).read_text(encoding="utf-8")
    key = hashlib.sha256(text.encode()).hexdigest()
    if key not in _YAML_CACHE:
        if len(_YAML_CACHE) > 8:  # a few projects' files at most (tests make many)
            _YAML_CACHE.clear()
        fast = yaml.__with_libyaml__
        _YAML_CACHE[key] = (yaml.load(text, Loader=yaml.CSafeLoader) if fast else yaml.safe_load(text)) or {}
    return _YAML_CACHE[key]


def stage_outs(root: Path, asset: str, partition: str, kind: str = "outs") -> list[str] | None:
    """The outputs (``kind="deps"``: the dependencies) that ``dvc.yaml`` in ``root`` lists for
    ``asset@partition`` (None: no stage)."""
    path = Path(root) / DVC_YAML
    if not path.is_file():
        return None
    stages = read_yaml(path).get("stages") or {}
    stage = stages.get(stage_name(asset))
    if stage is None:
        return None
    paths = []
    for entry in stage.get(kind, []):
        text = next(iter(entry)) if isinstance(entry, dict) else str(entry)
        paths.append(text.replace(LEVEL, partition))
    return paths


def dvc_md5(path: Path) -> str:
    """The hash DVC records for a file (``md5``) or a folder (``md5.dir``), computed without DVC's lock.

    Uses DVC's own hashing library (dvc-data), so the value equals the one in ``dvc.lock``.
    """
    from dvc_data.hashfile.hash import file_md5
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.meta import Meta
    from dvc_data.hashfile.tree import Tree

    path = Path(path)
    if path.is_file():
        return file_md5(str(path))
    tree = Tree()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        tree.add(f.relative_to(path).parts, Meta(size=f.stat().st_size), HashInfo("md5", file_md5(str(f))))
    tree.digest()
    return tree.hash_info.value


def combine(hashes: dict[str, str]) -> str:
    """One version string for a stage: the md5 of its single output, or a digest of all of them."""
    if len(hashes) == 1:
        return next(iter(hashes.values()))
    text = "".join(f"{path}={md5}\n" for path, md5 in sorted(hashes.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def lock_hashes(root: Path, stage: str, kind: str = "outs") -> dict[str, str]:
    """The output (``kind="deps"``: dependency) hashes ``dvc.lock`` records for ``stage``
    (``asset@partition``)."""
    path = Path(root) / DVC_LOCK
    if not path.is_file():
        return {}
    stages = read_yaml(path).get("stages") or {}
    entries = (stages.get(stage) or {}).get(kind) or []
    return {e["path"]: e["md5"] for e in entries if "md5" in e}


def committed(root: Path, stage: str, deps: Sequence[str], outs: Sequence[str]) -> dict[str, str] | None:
    """The outputs' hashes when ``dvc.lock`` already records exactly these dependencies and outputs
    with their current content, and the DVC cache holds the outputs: a ``dvc commit`` would change
    nothing (an unchanged re-materialization). None otherwise. Hashes in this process, no dvc run."""
    root = Path(root)
    recorded, recorded_deps = lock_hashes(root, stage), lock_hashes(root, stage, "deps")
    if set(recorded) != set(outs) or set(recorded_deps) != set(deps):
        return None
    current = {o: dvc_md5(root / o) for o in outs}
    cache = root / ".dvc" / "cache" / "files" / "md5"
    if current != recorded or not all((cache / h[:2] / h[2:]).exists() for h in current.values()):
        return None
    if any(not (root / d).exists() or dvc_md5(root / d) != h for d, h in recorded_deps.items()):
        return None
    return current


# ---------------------------------------------------------------- the cache: objects checked before use


def cache_object(root: Path, md5: str) -> Path:
    """The DVC cache file of an object (``…/ab/cdef…``; a folder's listing ends in ``.dir``)."""
    return Path(root) / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def corrupt_objects(root: Path, md5: str, output: str, stage: str, todo: str = "") -> list[str]:
    """The cache objects of one output (``md5`` as dvc.lock or a model's history records it: a file,
    or a folder's listing and every file it names) whose bytes do not hash to their name, one line
    each: the object, the output path it holds, and what to do. Objects not in the cache are not
    checked (``pull`` fetches them; ``push`` names them itself). ``todo`` replaces the advice."""
    import json

    root = Path(root)
    objects = [(cache_object(root, md5), md5.removesuffix(".dir"), output)]
    listing = objects[0][0]
    if md5.endswith(".dir") and listing.is_file() and dvc_md5(listing) == objects[0][1]:
        items = json.loads(listing.read_text(encoding="utf-8"))
        objects += [(cache_object(root, i["md5"]), i["md5"], f"{output}/{i['relpath']}") for i in items]
    asset, _, level = stage.partition("@")
    todo = todo or (
        f"delete it, then `matassets pull --asset {asset} --level {level}` fetches a good copy from the "
        f"remote, or, where the workspace copy is intact, `dvc commit --force {stage}` stores it again"
    )
    return [
        f"{obj.relative_to(root)} (holds {out}, stage {stage}): its md5 is {found}, not its name; {todo}"
        for obj, name, out in objects
        if obj.is_file() and (found := dvc_md5(obj)) != name
    ]


def check_cache(root: Path, stages: Sequence[str]) -> list[str]:
    """:func:`corrupt_objects` for every output ``dvc.lock`` records for ``stages``."""
    root = Path(root)
    return [
        line
        for stage in stages
        for output, md5 in lock_hashes(root, stage).items()
        for line in corrupt_objects(root, md5, output, stage)
    ]


@contextlib.contextmanager
def _commit_lock(root: Path) -> Iterator[None]:
    """Serialize this project's own commits (one run materializes several assets at once)."""
    import fcntl

    lock_dir = Path(root) / ".dvc" / "tmp"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / "matassets-commit.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def commit(root: Path, stage: str) -> dict[str, str]:
    """``dvc commit -f <stage>``: outputs into the cache, hashes into dvc.lock; returns those hashes."""
    with _commit_lock(root):
        run_dvc(root, "--wait-for-lock", "commit", "--force", "--no-relink", "--quiet", stage)
    return lock_hashes(root, stage)


def record(root: Path, asset: str, partition: str, warn: Callable[[str], None] = log.warning):
    """After ``asset`` wrote its files for ``partition``: commit them to DVC, return the content hash.

    Returns None (and says why through ``warn``) when dvc.yaml has no stage for the asset or an output
    is missing. Inside ``dvc repro`` (``$DVC_STAGE`` set) DVC holds its lock and commits the outputs
    itself after the command, so the hash is computed here with DVC's hashing instead. When dvc.lock
    already records the stage as it is (:func:`committed`), nothing is run either: a ``dvc commit``
    costs a DVC process start (about 0.6 s on an idle machine) even when it changes nothing.
    """
    root = Path(root)
    outs = stage_outs(root, asset, partition)
    if not outs:
        warn(f"dvc.yaml has no stage for {asset}: run `matassets dvc-yaml` to regenerate it")
        return None
    missing = [o for o in outs if not (root / o).exists()]
    if missing:
        warn(
            f"{asset} did not write {', '.join(missing)} which dvc.yaml lists: declare the asset's "
            "files in its `dvc_outs` metadata and rerun `matassets dvc-yaml`"
        )
        return None
    stage = f"{stage_name(asset)}@{partition}"
    if os.environ.get("DVC_STAGE"):
        return combine({o: dvc_md5(root / o) for o in outs})
    unchanged = committed(root, stage, stage_outs(root, asset, partition, "deps") or [], outs)
    return combine(unchanged if unchanged is not None else commit(root, stage))
