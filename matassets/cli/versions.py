"""DVC: ``dvc-yaml`` (write dvc.yaml from the asset graph), ``push`` and ``pull`` (the DVC remote)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from matassets.cli import _common as common

ORDER = 70


def asset_files() -> list:
    """The Dagster asset graph as :class:`matassets.versioning.AssetFiles`, upstream first."""
    from matassets.versioning import AssetFiles

    out = []
    for info in common.asset_infos().values():
        declared = info.metadata.get("dvc_outs")
        deps = info.metadata.get("dvc_deps") or ()
        out.append(
            AssetFiles(
                name=info.name,
                upstream=info.parents,
                declared_outs=tuple(_plain(declared)) if declared is not None else None,
                declared_deps=tuple(_plain(deps)),
                partitioned=info.partitioned,
            )
        )
    return out


def _plain(value) -> list[str]:
    """Metadata comes back wrapped (``JsonMetadataValue``/``TextMetadataValue``): unwrap to strings."""
    value = getattr(value, "value", value)
    if isinstance(value, str):
        return [value]
    return [str(getattr(v, "value", v)) for v in value]


def dvc_yaml_text() -> str:
    from matassets.versioning import build_stages, render_dvc_yaml

    return render_dvc_yaml(build_stages(asset_files()))


def cmd_dvc_yaml(args: argparse.Namespace) -> int:
    from matassets.io import atomic_write
    from matassets.paths import default_root

    path = Path(args.out) if args.out else default_root() / "dvc.yaml"
    text = dvc_yaml_text()
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    if args.check:
        if current != text:
            print(f"{path} is out of date with the asset graph: run `matassets dvc-yaml`", file=sys.stderr)
            return 1
        print(f"{path} is up to date")
        return 0
    if current == text:
        print(f"{path} is up to date")
        return 0
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    print(f"wrote {path} ({text.count('matassets materialize')} stages)")
    return 0


def targets(root: Path, args: argparse.Namespace) -> list[str]:
    """The stages to push or pull: those ``dvc.lock`` records, narrowed by ``--dataset``, ``--asset``
    and ``--level``. ``--dataset D``: D's stages only (``D-x``), ``--asset x`` its asset ``x``; without
    ``--dataset``, every data set's stages, an asset named as Dagster names it (``D/x`` or ``x``).

    Stages without a recorded version are left out: there is nothing to send, and pulling one would
    make DVC refuse to overwrite its uncommitted files in the workspace.
    """
    from matassets.paths import EMBEDDED
    from matassets.reports.lineage import asset_name
    from matassets.versioning import read_yaml, stage_name

    lock = root / "dvc.lock"
    data = read_yaml(lock) if lock.is_file() else None
    recorded = list((data or {}).get("stages") or {})
    layout = common.dataset_layout(args.dataset, root) if args.dataset else None
    wanted = {stage_name(asset_name(layout, a) if layout else a) for a in args.asset or ()}

    def of_dataset(stage_asset: str) -> bool:  # stage names hold a "-" only after a data set's name
        if layout is None:
            return True
        prefix = stage_name(asset_name(layout, ""))
        return stage_asset.startswith(prefix) if layout.dataset != EMBEDDED else "-" not in stage_asset

    chosen = []
    for stage in recorded:
        asset, _, level = stage.partition("@")
        if (not wanted or asset in wanted) and (not args.level or level == args.level) and of_dataset(asset):
            chosen.append(stage)
    return chosen


def _dvc(action: str, args: argparse.Namespace) -> int:
    from matassets.paths import default_root
    from matassets.versioning import check_cache, dvc_repo, run_dvc

    root = default_root()
    if not dvc_repo(root):
        print(f"error: {root} is not a DVC project with a dvc.yaml", file=sys.stderr)
        return 2
    try:
        stages = targets(root, args)
    except ValueError as exc:  # an unknown data set: the registered ones are named
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not stages:
        print(f"dvc.lock in {root} records no matching stage: nothing to {action}")
        return 0
    corrupt = check_cache(root, stages)  # a bad object would be pushed under its good name, or checked out
    if corrupt:
        print(
            f"error: {len(corrupt)} corrupted object(s) in the DVC cache; refusing to {action}:",
            file=sys.stderr,
        )
        for line in corrupt:
            print(f"  {line}", file=sys.stderr)
        return 1
    cmd = [action, *(["--remote", args.remote] if args.remote else []), *stages]
    if action == "pull":
        cmd.insert(1, "--allow-missing")  # files never pushed are skipped, not an error
    print("dvc " + " ".join(cmd))
    proc = run_dvc(root, *cmd, check=False)
    print((proc.stdout + proc.stderr).strip())
    if action != "pull":
        return proc.returncode
    missing = missing_outputs(root, stages)
    if missing:
        print(
            f"error: {len(missing)} output(s) of {len(stages)} stage(s) could not be restored from the "
            f"remote (never pushed there, or another remote holds them):",
            file=sys.stderr,
        )
        for line in missing:
            print(f"  {line}", file=sys.stderr)
        print(
            "a remote on one machine (the default .dvc-remote/) holds only what was pushed from it: "
            "set up a shared remote first (docs/operating.md, 'Remotes'), push there, then pull",
            file=sys.stderr,
        )
        return 1
    return proc.returncode


def missing_outputs(root: Path, stages: list[str]) -> list[str]:
    """The outputs ``dvc.lock`` records for ``stages`` that are not all in the workspace: an absent
    file or folder, or a folder with fewer files than recorded (``nfiles``)."""
    from matassets.versioning import read_yaml

    data = read_yaml(root / "dvc.lock")
    out = []
    for stage in stages:
        for entry in (data.get("stages") or {}).get(stage, {}).get("outs") or []:
            path = root / entry["path"]
            expected = entry.get("nfiles")
            if not path.exists():
                count = f" ({expected} files)" if expected else ""
                out.append(f"{entry['path']}{count}: missing [{stage}]")
            elif path.is_dir() and expected:
                present = sum(1 for p in path.rglob("*") if p.is_file())
                if present < expected:
                    out.append(f"{entry['path']}: {expected - present} of {expected} files missing [{stage}]")
    return out


def register(sub) -> None:
    p = sub.add_parser(
        "dvc-yaml", help="write dvc.yaml from the Dagster asset graph (--check: is it current)"
    )
    p.add_argument("--check", action="store_true", help="exit 1 when dvc.yaml differs from the graph")
    p.add_argument("--out", help="where to write (default: dvc.yaml in $MATASSETS_ROOT or the checkout)")
    p.set_defaults(func=cmd_dvc_yaml)
    for action, text in (
        ("push", "send committed data and models to the DVC remote"),
        ("pull", "fetch data and models from the DVC remote into the workspace"),
    ):
        q = sub.add_parser(
            action,
            help=text,
            description=f"{text[0].upper()}{text[1:]}: every stage dvc.lock records, of every data set, "
            "unless --dataset NAME (that data set's stages only; --asset then names its assets, "
            "e.g. cgcnn_<property>), --asset or --level narrow it.",
        )
        q.add_argument("--asset", action="append", help="only this asset's stage (repeatable)")
        q.add_argument("--level", help="only this partition")
        common.dataset_arg(q, None, "only this data set's stages (default: every data set's)")
        q.add_argument("-r", "--remote", help="a named remote (default: the configured default)")
        q.set_defaults(func=lambda args, action=action: _dvc(action, args))
