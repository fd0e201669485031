"""Where a model came from: the chain from its folder back to the raw files, a bundle that carries it.

:func:`model_lineage` reads, without Dagster: the model folder's hashes (``files.sha256``) and run
record (the command, git SHA and uncommitted-diff hash taken when the run started, whether the code
changed before it ended, the Dagster run id, data / split / graph hashes), the model's DVC hash in
``dvc.lock``, then every file upstream of it as ``dvc.yaml`` declares the stages (the project's own
``dvc.yaml`` when the root has none): its DVC hash now, the one ``dvc.lock`` recorded, and the stage
that produces it (``source`` for a file in git such as the embedded snapshot). A registered data set
D's model ``x`` is asset ``D/x``, stage ``D-x``, its folders D's own (``Layout.for_dataset``): its
chain ends at D's table (``data/datasets/D/table.parquet``).

:func:`export_bundle` writes ``<dir>/model/`` (a copy of the folder) and ``<dir>/provenance.json``
(the chain, the model's history, its file hashes); :func:`verify_bundle` checks a copy of such a bundle
on any machine: every model file against the hashes, the hashes against ``provenance.json``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from matassets.io import read_json_dict, sha256_file, write_json
from matassets.paths import EMBEDDED, PROJECT_ROOT, Layout
from matassets.training.history import read_history
from matassets.training.model_folder import IntegrityError, manifest_digest, read_manifest, verify

BUNDLE_FORMAT = 1
RECORD_FIELDS = (
    "command", "phase", "algorithm", "partition", "started_at", "finished_at", "git_sha",
    "git_diff_sha256", "git_dirty", "reproducible", "reproducibility", "code_version", "dagster_run_id",
    "seed", "data_hash", "split_hash", "graphs_key", "input_key", "overrides", "promoted_from",
    "tuning_session", "tuning_round", "libraries", "hardware", "warm_start",
)  # fmt: skip


def _dvc_md5(path: Path) -> str | None:
    from matassets.versioning import dvc_md5

    return dvc_md5(path) if path.exists() else None


def _stages_root(root: Path) -> Path:
    return root if (root / "dvc.yaml").is_file() else PROJECT_ROOT


def _producer(yaml_root: Path, path: str, partition: str) -> str | None:
    """The dvc.yaml stage whose outputs hold ``path``."""
    from matassets.versioning import read_yaml, stage_outs

    stages = read_yaml(yaml_root / "dvc.yaml").get("stages")
    for name in stages or {}:
        for out in stage_outs(yaml_root, name, partition) or []:
            if path == out or path.startswith(out.rstrip("/") + "/"):
                return name
    return None


def asset_name(layout: Layout, asset: str) -> str:
    """Model ``asset`` of ``layout``'s data set as Dagster (and ``versioning.stage_name``) names it:
    ``asset`` for the embedded set, ``D/asset`` for registered data set D (``assets/datasets.py``)."""
    return asset if layout.dataset == EMBEDDED else f"{layout.dataset}/{asset}"


def model_lineage(root: Path, asset: str, partition: str, dataset: str = EMBEDDED) -> dict:
    """The chain from ``asset`` [``partition``]'s current model (of ``dataset``) to its source files."""
    from matassets.versioning import lock_hashes, stage_name, stage_outs

    root, layout = Path(root), Layout(Path(root)).for_dataset(dataset)
    folder, name = layout.model_dir(asset, partition), asset_name(layout, asset)
    if not (folder / "run_record.json").is_file():
        raise FileNotFoundError(f"no trained model in {folder}: materialize {name} [{partition}] first")
    verified = verify(folder)
    record = read_json_dict(folder / "run_record.json") or {}
    stage = f"{stage_name(name)}@{partition}"
    model_out = folder.relative_to(root).as_posix()
    yaml_root = _stages_root(root)
    deps = stage_outs(yaml_root, name, partition, "deps")
    model = {
        "kind": "model",
        "asset": name,
        "partition": partition,
        "path": model_out,
        "dvc_stage": stage if deps is not None else None,
        "files_sha256": manifest_digest(folder),
        "files_verified": verified,
        "dvc_md5_now": _dvc_md5(folder),
        "dvc_md5_locked": lock_hashes(root, stage).get(model_out),
        **{k: record.get(k) for k in RECORD_FIELDS},
    }
    upstream, seen = [], set()
    todo = [(stage_name(name), dep) for dep in deps or []]
    while todo:
        consumer, dep = todo.pop(0)
        if dep in seen:
            continue
        seen.add(dep)
        producer = _producer(yaml_root, dep, partition)
        where = root / dep if (root / dep).exists() else PROJECT_ROOT / dep
        upstream.append(
            {
                "kind": "data",
                "path": dep,
                "used_by": consumer,
                "produced_by": f"{producer}@{partition}" if producer else "source (git)",
                "dvc_md5_now": _dvc_md5(where),
                "dvc_md5_locked": lock_hashes(root, f"{consumer}@{partition}", "deps").get(dep),
            }
        )
        if producer:
            todo += [(producer, d) for d in stage_outs(yaml_root, producer, partition, "deps") or []]
    split = read_json_dict(layout.split_manifest(partition)) or {}
    checks = {
        "split manifest now": split.get("hash"),
        "split used by the model": record.get("split_hash"),
        "same split": split.get("hash") == record.get("split_hash") if split else None,
    }
    warm = record.get("warm_start")
    if warm:  # the model whose encoder started this one (a specialist's multitask, warm_start_from)
        source = layout.model_dir(warm["asset"], partition) / "model.pt"
        now = sha256_file(source) if source.is_file() else None
        checks["warm-start weights now"] = now
        checks["same warm-start weights"] = now == warm["model_sha256"] if now else None
    return {
        "model": model,
        "upstream": upstream,
        "checks": checks,
        "history": read_history(layout, asset, partition),
    }


def render(lineage: dict) -> str:
    m = lineage["model"]
    lines = [
        f"{m['asset']} [{m['partition']}]  {m['path']}",
        f"  files.sha256 {m['files_sha256']} ({'verified' if m['files_verified'] else 'no hashes'})"
        f"  dvc md5 {m['dvc_md5_now']} (dvc.lock: {m['dvc_md5_locked'] or 'not committed'})",
        f"  command: {m['command']}",
        f"  git {m['git_sha']} diff {m['git_diff_sha256'] or 'clean'} at start {m['started_at']}; "
        f"reproducible: {m['reproducible']} ({m['reproducibility']})",
        f"  code version {m['code_version']}  seed {m['seed']}  dagster run {m['dagster_run_id']}",
        f"  data_hash {m['data_hash']}  split_hash {m['split_hash']}  graphs {m['graphs_key']}",
    ]
    if m.get("promoted_from"):
        lines.append(f"  promoted from {m['promoted_from']}")
    if not m.get("dvc_stage"):
        lines.append(
            f"  no dvc.yaml stage for {m['asset']}: `matassets dvc-yaml` writes it, then upstream shows"
        )
    for node in lineage["upstream"]:
        state = "" if node["dvc_md5_locked"] in (None, node["dvc_md5_now"]) else "  CHANGED since dvc.lock"
        lines.append(
            f"  <- {node['path']}  md5 {node['dvc_md5_now']} (dvc.lock: {node['dvc_md5_locked']})  "
            f"from {node['produced_by']}{state}"
        )
    checks = lineage["checks"]
    lines.append(
        f"  split now {checks['split manifest now']} vs the model's {checks['split used by the model']}"
        + ("" if checks["same split"] else "  DIFFERENT: the data moved on since this model")
    )
    if m.get("warm_start"):
        warm, same = m["warm_start"], checks["same warm-start weights"]
        state = {True: "unchanged since", False: "CHANGED since: retrained after", None: "gone since"}[same]
        lines.append(
            f"  warm start from {warm['asset']} [{m['partition']}] weights sha256 {warm['model_sha256']} "
            f"({state} this model started from them)"
        )
    versions = [e for e in lineage["history"] if e.get("event") == "promoted"]
    lines.append(f"  history: {len(versions)} version(s); `matassets history` lists them")
    return "\n".join(lines)


def lineage_table(lineage: dict, width: int = 12) -> str:
    """:func:`model_lineage`'s chain as a short Markdown table (hashes and run ids cut to ``width``
    characters, so the UI shows it inline, under the 1,000 characters Dagster draws without a click):
    the model, then every upstream file. A registered data set's folder and stage prefix are named
    once, above the table, and its rows hold what follows them (``structures/smoke/...`` from
    ``structures``), so the table's length does not grow with the data set's name."""
    from matassets.reports.tables import markdown_table
    from matassets.versioning import stage_name

    def short(value: object) -> str:
        return str(value or "-").removesuffix(".dir")[:width]

    m = lineage["model"]
    dataset, _, _ = m["asset"].rpartition("/")
    caption, folder, stage = "", "", ""
    if dataset:
        folder = Layout(Path("")).for_dataset(dataset).data_dir().as_posix() + "/"
        stage = stage_name(f"{dataset}/")
        caption = f"files under `{folder}`, made by DVC stage `{stage}<from>@{m['partition']}`:\n\n"

    def producer(node: dict) -> str:
        name = node["produced_by"]
        return name.removeprefix(stage).removesuffix(f"@{m['partition']}") if dataset else name

    rows = [
        [
            m["path"],
            short(m["dvc_md5_now"]),
            short(m["dvc_md5_locked"]),
            f"run {short(m['dagster_run_id'])}, git {short(m['git_sha'])}",
        ]
    ]
    rows += [
        [n["path"].removeprefix(folder), short(n["dvc_md5_now"]), short(n["dvc_md5_locked"]), producer(n)]
        for n in lineage["upstream"]
    ]
    return caption + markdown_table(["path", "md5", "dvc.lock", "from"], rows)


def export_bundle(root: Path, asset: str, partition: str, out: Path, dataset: str = EMBEDDED) -> Path:
    """``out/model/`` (the folder as it is) and ``out/provenance.json``; refuses a tampered folder."""
    lineage = model_lineage(root, asset, partition, dataset)
    folder = Layout(Path(root)).for_dataset(dataset).model_dir(asset, partition)
    verify(folder, require=True)
    out = Path(out)
    if (out / "model").exists():
        shutil.rmtree(out / "model")
    shutil.copytree(folder, out / "model")
    write_json(
        out / "provenance.json",
        {
            "bundle_format": BUNDLE_FORMAT,
            "lineage": lineage,
            "model_files": read_manifest(folder),
        },
    )
    return out


def verify_bundle(bundle: Path) -> list[str]:
    """Every problem of a bundle (an empty list: it is what ``provenance.json`` says it is)."""
    bundle = Path(bundle)
    provenance = read_json_dict(bundle / "provenance.json")
    if provenance is None:
        return [f"{bundle / 'provenance.json'}: missing or unreadable"]
    model = bundle / "model"
    problems = []
    try:
        verify(model, require=True)
    except IntegrityError as exc:
        problems.append(str(exc))
    manifest = read_manifest(model)
    if manifest != provenance.get("model_files"):
        problems.append(f"{model / 'files.sha256'}: differs from the hashes in provenance.json")
    lineage = provenance.get("lineage") or {}
    recorded = (lineage.get("model") or {}).get("files_sha256")
    if recorded != manifest_digest(model):
        problems.append(
            f"provenance.json names files.sha256 {recorded}, the bundle's is {manifest_digest(model)}"
        )
    record = read_json_dict(model / "run_record.json") or {}
    for key in ("input_key", "git_sha", "data_hash", "split_hash", "dagster_run_id"):
        if record.get(key) != (lineage.get("model") or {}).get(key):
            problems.append(f"run_record.json {key} {record.get(key)!r} differs from provenance.json")
    return problems
