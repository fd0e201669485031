"""What the commands share: the level arguments and running a selection through Dagster."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

from matassets import environment
from matassets.dagster_home import open_instance
from matassets.levels import PARTITIONS
from matassets.paths import EMBEDDED, Layout, default_root

COMMAND_LINE = "matassets"  # set by main(): shown as a tag on the Dagster run
VERBOSE = False  # set by main() for -v: Dagster's DEBUG event lines too (default: INFO and up)


def level_args(p: argparse.ArgumentParser, default: str | None = "smoke") -> None:
    p.add_argument("--level", choices=PARTITIONS, default=default, help=f"partition (default {default})")
    p.add_argument("--competition", action="store_true", help="the competition profile (partition)")


def partition(args: argparse.Namespace) -> str:
    """``--competition`` or ``--level``: the Dagster partition key."""
    if getattr(args, "competition", False):
        if getattr(args, "level", None) not in (None, "smoke", "competition"):
            raise SystemExit("error: give either --level or --competition, not both")
        return "competition"
    return args.level or "smoke"


def dataset_arg(p: argparse.ArgumentParser, default: str | None = EMBEDDED, help: str = "") -> None:
    """``--dataset NAME``; ``default`` None (with its ``help``): a command whose default is every
    data set (``push``, ``pull``)."""
    p.add_argument(
        "--dataset",
        default=default,
        metavar="NAME",
        help=help
        or "a registered data set (matassets dataset list; default: the embedded set): its models "
        "under models/datasets/NAME/",
    )


def dataset_layout(name: str | None, root: Path | None = None) -> Layout:
    """Where data set ``name``'s files are under ``root`` (default: ``$MATASSETS_ROOT`` or the
    checkout; ``Layout.for_dataset``); a built-in data set's are the installation's own. An unknown
    name raises ``DatasetError`` listing the registered ones."""
    from matassets import datasets

    root = root or default_root()
    manifest = datasets.get(name or EMBEDDED, root)
    return Layout(root) if manifest.builtin else Layout(root).for_dataset(manifest.name)


def structure_paths(paths: list[str]) -> tuple[list[str], list[str]]:
    """``paths`` as ``predict`` and ``relax`` read them: a folder stands for its CIF/POSCAR files
    (``data.user_files.structure_files``). (files, one error line per folder without any)."""
    from matassets.data.errors import DataInputError
    from matassets.data.user_files import structure_files

    files, errors = [], []
    for path in paths:
        if not Path(path).is_dir():
            files.append(path)
            continue
        try:
            files += [str(p) for p in structure_files(Path(path))]
        except DataInputError as exc:
            errors.append(str(exc))
    return files, errors


def defs():
    """The definitions as the data-set registry under the project root is now: built once per
    command (``main`` calls ``clear_defs``) and per root (another ``MATASSETS_ROOT``, another build)."""
    return _defs(default_root())


@functools.cache
def _defs(root: Path):
    from matassets.definitions import build_defs

    return build_defs()


def clear_defs() -> None:
    _defs.cache_clear()


@dataclass(frozen=True)
class AssetInfo:
    name: str
    group: str
    parents: tuple[str, ...]
    metadata: dict
    partitioned: bool
    config_fields: tuple[str, ...] = ()  # the run-config keys of its op (a model's --set keys)


def asset_infos() -> dict[str, AssetInfo]:
    """Every materializable asset of this installation, in topological order (upstream first)."""
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    out: dict[str, AssetInfo] = {}
    for key in graph.toposorted_asset_keys:
        node = graph.get(key)
        if not node.is_materializable:
            continue
        out[key.to_user_string()] = AssetInfo(
            name=key.to_user_string(),
            group=node.group_name or "default",
            parents=tuple(sorted(k.to_user_string() for k in node.parent_keys)),
            metadata=dict(node.metadata or {}),
            partitioned=node.is_partitioned,
            config_fields=_config_fields(definitions.resolve_assets_def(key)),
        )
    return out


def _config_fields(assets_def) -> tuple[str, ...]:
    schema = assets_def.op.config_schema
    config_type = schema.config_type if schema is not None else None
    fields = getattr(config_type, "fields", None) or {}
    return tuple(sorted(fields))


def dagster_home_note() -> str:
    home = os.environ.get("DAGSTER_HOME")
    if home:
        return f"recorded in DAGSTER_HOME={home} (visible in the UI's run history)"
    return "DAGSTER_HOME is not set: the run is not recorded for the UI"


def ensure_telemetry_off(home: Path) -> None:
    """A new DAGSTER_HOME gets a dagster.yaml with telemetry disabled (an existing one is left alone)."""
    config = home / "dagster.yaml"
    if not config.exists():
        home.mkdir(parents=True, exist_ok=True)
        config.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")


def job_for(selection: list[str]) -> str:
    """The named job a CLI run of ``selection`` goes through (so the UI shows ``phase1_job``, not
    ``__ephemeral_asset_job__``, and the Overview counts it): the first of the phase jobs
    (``matassets.jobs``), else the every-asset job, that holds every selected asset."""
    from matassets.jobs import ASSET_JOBS, PHASE_JOBS, nightly_smoke_job

    definitions = defs()
    wanted = set(selection)
    for job in [*PHASE_JOBS, nightly_smoke_job]:
        keys = definitions.resolve_job_def(job.name).asset_layer.selected_asset_keys
        if wanted <= {k.to_user_string() for k in keys}:
            return job.name
    raise ValueError(f"no job of {[j.name for j in ASSET_JOBS]} holds {sorted(wanted)}")


def run_config_errors(selection: list[str], run_config: dict) -> str | None:
    """Dagster's own validation of ``run_config`` against the job (types, unknown keys), as one
    line, or None when it is valid: a dry run shows it instead of the run failing later."""
    import dagster as dg

    if not run_config:
        return None
    job = defs().resolve_job_def(job_for(selection))
    try:
        dg.validate_run_config(job, run_config)
    except dg.DagsterInvalidConfigError as exc:
        messages = [_config_error_line(e) for e in exc.errors]
        return "; ".join(messages) or str(exc).splitlines()[0]
    return None


def _config_error_line(error) -> str:
    """One of Dagster's config errors as a person needs it: Dagster appends the whole config schema
    ('Expected: "{ ... }"', 'Sample config ...'), of which the path and the key are what matters, and
    names no choice where a value is not one of an Enum's, so the choices are appended."""
    line = re.split(r"\. (?:Expected|Sample config)", error.message)[0]
    choices = getattr(getattr(error.error_data, "config_type_snap", None), "enum_values", None)
    return f"{line}: choose one of {', '.join(v.value for v in choices)}" if choices else line


TAIL_WAIT = "DAGSTER_COMPUTE_LOG_TAIL_WAIT_AFTER_FINISH"


@contextlib.contextmanager
def console_tail_wait():
    """Dagster mirrors a run's console output through `tail -F` while it captures the process's
    logs and kills the tail when the run ends: the last lines (a failed step's STEP_FAILURE line)
    were lost on a busy machine. Its own knob waits before the kill (dagster-io/dagster#23336),
    once for stdout and once for stderr. Only this run, which a person watches on the console,
    waits: set for the whole CLI, the knob reached every process the CLI starts, and a Celery
    worker, whose steps are not captured, slept 3 s after each step for nothing."""
    with environment.restored(TAIL_WAIT):
        os.environ.setdefault(TAIL_WAIT, "1.5")
        yield


def materialize(
    selection: list[str],
    partition_key: str | None,
    run_config: dict | None = None,
    tags: dict[str, str] | None = None,
) -> bool:
    """Materialize ``selection`` for one partition (None: unpartitioned assets) through its named job,
    in process; recorded in ``$DAGSTER_HOME`` if set, as a run of the UI's code location (so the
    Overview shows it: ``_location.py``). Prints progress at INFO (``-v``: DEBUG) and one closing
    block (each model's path, headline metric beside its baseline, its checks); False when the run
    failed or a blocking check did not pass."""
    from matassets.cli._location import execute
    from matassets.cli._report import closing_block, console_logger, print_block

    definitions = defs()
    home = os.environ.get("DAGSTER_HOME")
    if home:
        ensure_telemetry_off(Path(home))
    name = job_for(selection)
    job = definitions.resolve_job_def(name)
    level = "DEBUG" if VERBOSE else "INFO"
    config = {**(run_config or {}), "loggers": {"console": {"config": {"log_level": level}}}}
    tags = {"matassets/cli": COMMAND_LINE[:250], **(tags or {})}
    with open_instance() as instance, console_tail_wait():
        result = execute(job, selection, partition_key, config, tags, instance, console_logger(VERBOSE))
    outcome = closing_block(result, name, partition_key, dagster_home_note(), selection)
    print_block(outcome)
    return outcome.ok
