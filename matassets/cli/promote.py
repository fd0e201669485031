"""``promote``, ``reject``, ``history``: a person's decision on a model's candidates, and its versions.

A training writes a candidate (``models/<asset>/candidates/<level>-<run>/``); its blocking checks
promote it or leave it there (``decision.json`` says why). ``promote`` makes a candidate the current
model anyway, or again (the same atomic, hash-checked promotion as the checks', a DVC commit when
the root is a DVC project, a line in ``models/<asset>/<level>.history.jsonl``); ``reject`` marks one
refused. Both are recorded in the model's history with who decided and why. ``--dataset NAME``: the
model of registered data set NAME (``models/datasets/NAME/<asset>/``, DVC stage ``NAME-<asset>``).
"""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path

from matassets.cli import _common as common
from matassets.levels import PARTITIONS

ORDER = 47


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="the model asset, e.g. cgcnn_formation_energy")
    p.add_argument("--level", choices=PARTITIONS, default="smoke", help="partition (default smoke)")
    p.add_argument("--root", type=Path, help="project root (default: $MATASSETS_ROOT or the checkout)")
    common.dataset_arg(p)


def register(sub: argparse._SubParsersAction) -> None:
    for name, helptext in (
        ("promote", "make a candidate the current model (recorded in its history)"),
        ("reject", "mark a candidate refused (recorded in the model's history)"),
    ):
        p = sub.add_parser(name, help=helptext, description=__doc__.split("\n\n")[1])
        _model_args(p)
        p.add_argument("--candidate", help="candidate folder name or id (default: the newest)")
        p.add_argument("--reason", default="", help="why (kept in the history)")
        p.set_defaults(func=run_promote if name == "promote" else run_reject)
    p = sub.add_parser("history", help="every version that was a model's current one")
    _model_args(p)
    p.set_defaults(func=run_history)
    p = sub.add_parser(
        "checkout",
        help="make an earlier version (matassets history) the current model again, from DVC's cache",
        description="Restores version N's files from the DVC cache (its dvc md5 in the history), checks "
        "them against their files.sha256, and promotes them: a new version, recorded in the history.",
    )
    _model_args(p)
    p.add_argument("--version", type=int, required=True, help="the version number `history` shows")
    p.set_defaults(func=run_checkout)


def _layout(args):
    """The model's layout (its data set's folders), or exit 2 naming the registered data sets."""
    try:
        return common.dataset_layout(args.dataset, args.root)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc


def _name(layout, args) -> str:
    """The model's asset (and DVC stage) name: ``D/<model>`` for registered data set D."""
    from matassets.reports.lineage import asset_name

    return asset_name(layout, args.model)


def _candidate(args, layout) -> Path:
    from matassets.io import read_json_dict
    from matassets.training.model_folder import candidates

    found = candidates(layout, args.model, args.level)
    if args.candidate:
        found = [p for p in found if p.name in (args.candidate, f"{args.level}-{args.candidate}")]
    else:  # the newest one not yet decided by a person
        found = [
            p for p in found if (read_json_dict(p / "decision.json") or {}).get("status") not in ("rejected",)
        ][-1:]
    if not found:
        known = [p.name for p in candidates(layout, args.model, args.level)]
        raise SystemExit(
            f"error: no candidate {args.candidate or ''} of {_name(layout, args)} [{args.level}] in "
            f"{layout.candidates_root(args.model)}; candidates: {', '.join(known) or 'none'}"
        )
    return found[-1]


def _who(args) -> str:
    return f"{getpass.getuser()} (matassets {args.command})"


def run_promote(args: argparse.Namespace) -> int:
    from matassets.io import read_json_dict
    from matassets.locks import run_lock
    from matassets.training.model_folder import ModelFolder, promote
    from matassets.versioning import DvcError, dvc_repo, record

    layout = _layout(args)
    candidate = _candidate(args, layout)
    decision = read_json_dict(candidate / "decision.json") or {}

    def commit() -> str | None:
        if not dvc_repo(layout.root):
            return None
        try:
            return record(layout.root, _name(layout, args), args.level)
        except (DvcError, OSError) as exc:
            print(f"warning: DVC commit failed, the model is promoted but not versioned: {exc}")
            return None

    reason = args.reason or f"a person's decision (the checks said: {decision.get('status', 'none')})"
    with run_lock(ModelFolder(layout, args.model, args.level).lock, f"{args.model} [{args.level}]"):
        entry = promote(
            layout, args.model, args.level, candidate, by=_who(args), reason=reason, commit=commit
        )
    print(
        f"promoted {candidate.name} to {layout.model_dir(args.model, args.level)} "
        f"(version {entry['version']}, dvc {entry['dvc_md5'] or 'not a DVC project'})"
    )
    return 0


def run_checkout(args: argparse.Namespace) -> int:
    import json
    import shutil

    from matassets.locks import run_lock
    from matassets.training.history import read_history
    from matassets.training.model_folder import ModelFolder, promote
    from matassets.versioning import corrupt_objects, dvc_repo, record, stage_name

    layout = _layout(args)
    name = _name(layout, args)
    entries = [e for e in read_history(layout, args.model, args.level) if e.get("event") == "promoted"]
    entry = next((e for e in entries if e.get("version") == args.version), None)
    if entry is None or not entry.get("dvc_md5"):
        raise SystemExit(
            f"error: version {args.version} of {name} [{args.level}] is not in its history with a "
            f"DVC hash (versions with one: {[e['version'] for e in entries if e.get('dvc_md5')]})"
        )
    cache = layout.root / ".dvc" / "cache" / "files" / "md5"

    def obj(md5: str) -> Path:
        return cache / md5[:2] / md5[2:]

    listing = obj(entry["dvc_md5"])
    if not listing.is_file():
        raise SystemExit(f"error: {listing} is not in the DVC cache: `matassets pull` first")
    output = layout.model_dir(args.model, args.level).relative_to(layout.root).as_posix()
    todo = f"delete it and fetch version {args.version} again from the remote, or check out another version"
    corrupt = corrupt_objects(layout.root, entry["dvc_md5"], output, f"{stage_name(name)}@{args.level}", todo)
    if corrupt:
        raise SystemExit(
            "error: corrupted object(s) in the DVC cache; nothing restored:\n  " + "\n  ".join(corrupt)
        )
    restored = layout.candidate_dir(args.model, args.level, f"restore-v{args.version}")
    if restored.exists():
        shutil.rmtree(restored)
    for item in json.loads(listing.read_text(encoding="utf-8")):
        target = restored / item["relpath"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(obj(item["md5"]), target)

    def commit() -> str | None:
        return record(layout.root, name, args.level) if dvc_repo(layout.root) else None

    with run_lock(ModelFolder(layout, args.model, args.level).lock, f"{args.model} [{args.level}]"):
        new = promote(
            layout, args.model, args.level, restored, by=_who(args),
            reason=f"checkout of version {args.version}", commit=commit,
        )  # fmt: skip
    print(f"version {args.version} restored as version {new['version']} of {name} [{args.level}]")
    return 0


def run_reject(args: argparse.Namespace) -> int:
    from matassets.training.history import append_history, now
    from matassets.training.model_folder import write_decision

    layout = _layout(args)
    candidate = _candidate(args, layout)
    reason = args.reason or "a person's decision"
    write_decision(candidate, "rejected", _who(args), reason)
    append_history(
        layout,
        args.model,
        args.level,
        {"event": "rejected", "at": now(), "candidate": str(candidate), "by": _who(args), "reason": reason},
    )
    print(f"rejected {candidate.name}; the current model is unchanged")
    return 0


def run_history(args: argparse.Namespace) -> int:
    from matassets.reports.tables import markdown_table
    from matassets.training.history import read_history

    layout = _layout(args)
    entries = read_history(layout, args.model, args.level)
    if not entries:
        where = layout.model_history(args.model, args.level)
        print(f"no history for {_name(layout, args)} [{args.level}] ({where})")
        return 1
    rows = []
    for e in entries:
        val = _headline(e.get("val"))
        test = _headline(e.get("test"))
        version = e.get("version") if e.get("event") == "promoted" else f"({e.get('event')})"
        rows.append(
            [version, e.get("at"), val, test, e.get("data_hash"), e.get("split_hash"), e.get("git_sha", "")
             and str(e.get("git_sha"))[:10], e.get("dvc_md5"), e.get("by"), e.get("reason")]
        )  # fmt: skip
    headers = ["version", "date", "val", "test", "data", "split", "git", "dvc md5", "by", "reason"]
    print(markdown_table(headers, rows))
    return 0


def _headline(split: dict | None) -> str:
    """The first number a person compares: MAE, balanced accuracy or energy MAE of the split."""
    if not split:
        return ""
    for task, m in split.items():
        if not isinstance(m, dict):
            continue
        for key in ("mae", "balanced_accuracy", "energy_mae_meV_per_atom"):
            if key in m:
                return f"{task} {key} {m[key]:.4g}"
    return ""
