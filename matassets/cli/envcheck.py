"""``check-env``: the runbook's environment check, for this stack.

Python, every pinned library against pyproject, torch threads and CUDA, the dagster / dvc commands,
the data files, and whether DAGSTER_HOME and the project root are writable. Exit 1 on any FAIL.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ORDER = 60
OK, WARN, FAIL = "OK", "WARN", "FAIL"


def requirements() -> tuple[str, list[str]]:
    """(requires-python, dependency strings): pyproject.toml of the checkout, else the installed metadata."""
    from matassets.paths import PROJECT_ROOT

    pyproject = PROJECT_ROOT / "pyproject.toml"
    if pyproject.is_file():
        import tomllib

        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        return project.get("requires-python", ""), list(project.get("dependencies", []))
    meta = metadata.metadata("matassets")
    reqs = [r for r in (metadata.requires("matassets") or []) if "extra ==" not in r]
    return meta.get("Requires-Python", ""), reqs


def check_python(spec: str) -> tuple[str, str, str]:
    from packaging.specifiers import SpecifierSet

    version = platform.python_version()
    ok = not spec or version in SpecifierSet(spec)
    return ("python", OK if ok else FAIL, f"{version} ({sys.executable}); pyproject wants {spec or 'any'}")


def check_requirement(text: str) -> tuple[str, str, str]:
    from packaging.requirements import Requirement

    req = Requirement(text)
    try:
        installed = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        return (req.name, FAIL, f"not installed (pyproject: {text})")
    if req.specifier and not req.specifier.contains(installed, prereleases=True):
        return (req.name, FAIL, f"{installed} installed, pyproject pins {req.specifier}")
    return (req.name, OK, installed + (f" (pin {req.specifier})" if req.specifier else ""))


def check_torch() -> list[tuple[str, str, str]]:
    try:
        import torch
    except ImportError as exc:
        return [("torch runtime", FAIL, str(exc))]
    cores = os.cpu_count() or 1
    threads = torch.get_num_threads()
    training = os.environ.get("MATASSETS_THREADS")
    rows = [
        (
            "torch threads",
            OK if threads >= min(cores, 2) else WARN,
            f"{threads} intra-op threads on {cores} cores; training uses "
            + (f"MATASSETS_THREADS={training}" if training else f"{cores} (one per core)")
            + ("" if threads >= min(cores, 2) else " (OMP_NUM_THREADS or MKL_NUM_THREADS lowers it?)"),
        )
    ]
    if torch.cuda.is_available():
        gpus = f"{torch.cuda.device_count()} × {torch.cuda.get_device_name(0)}"
        rows.append(("CUDA", OK, f"{gpus}: models train there (device=auto; device=cpu keeps a run off)"))
    else:
        what = f"CPU build {torch.__version__}" if torch.version.cuda is None else "no GPU visible"
        rows.append(("CUDA", OK, f"not available: {what}; models train on the CPU (device=cuda is refused)"))
    return rows


def check_commands() -> list[tuple[str, str, str]]:
    rows = []
    for name in ("dagster", "dagster-webserver", "dagster-daemon", "dvc"):
        beside = Path(sys.executable).with_name(name)
        found = str(beside) if beside.exists() else shutil.which(name)
        rows.append((f"command {name}", OK if found else FAIL, found or "not found on PATH"))
    for var, want in (("DVC_NO_ANALYTICS", "1"), ("DAGSTER_DISABLE_TELEMETRY", "1")):
        value = os.environ.get(var)
        rows.append((var, OK if value == want else WARN, value or f"unset (set {var}={want}: no telemetry)"))
    return rows


def check_selection_grammar() -> tuple[str, str, str]:
    """dvc's hydra can drag in the antlr4 4.9 runtime, which breaks Dagster's --select silently."""
    import dagster as dg

    try:
        dg.AssetSelection.from_string("key:raw_structures")
    except Exception as exc:  # the broken runtime raises TypeError deep in antlr
        return (
            "dagster --select grammar",
            FAIL,
            f"{type(exc).__name__}: {exc} (antlr4 runtime must be 4.13)",
        )
    return ("dagster --select grammar", OK, "parses (antlr4 runtime 4.13)")


def check_data() -> list[tuple[str, str, str]]:
    from matassets.data.embedded import EMBEDDED_FILE
    from matassets.paths import PROJECT_ROOT

    rows = []
    if EMBEDDED_FILE.is_file():
        rows.append(("embedded data", OK, f"{EMBEDDED_FILE} ({EMBEDDED_FILE.stat().st_size / 1e6:.1f} MB)"))
    else:
        rows.append(("embedded data", FAIL, f"{EMBEDDED_FILE} is missing: the default source cannot load"))
    data = PROJECT_ROOT / "data"
    for folder in sorted(p for p in data.iterdir() if p.is_dir()) if data.is_dir() else []:
        licences = sorted(folder.glob("LICENSE*"))
        if licences:  # a shipped data set: it carries its licence
            n = sum(1 for p in folder.rglob("*") if p.is_file())
            rows.append((f"data/{folder.name}", OK, f"{n} files"))
    return rows


def writable(folder: Path) -> str | None:
    """None when a file can be created in ``folder`` (made if missing), else why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".check-env-"):
            pass
    except OSError as exc:
        return str(exc)
    return None


def check_places() -> list[tuple[str, str, str]]:
    from matassets.paths import Layout, default_root
    from matassets.versioning import dvc_repo

    rows = []
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        rows.append(
            ("DAGSTER_HOME", WARN, "unset: CLI runs are not recorded for the UI (see docs/operating.md)")
        )
    else:
        problem = writable(Path(home))
        rows.append(("DAGSTER_HOME", FAIL if problem else OK, problem or f"{home} is writable"))
        yaml_file = Path(home) / "dagster.yaml"
        telemetry_off = yaml_file.is_file() and "enabled: false" in yaml_file.read_text(encoding="utf-8")
        rows.append(
            (
                "dagster.yaml telemetry",
                OK if telemetry_off else WARN,
                "disabled" if telemetry_off else f"add `telemetry: {{enabled: false}}` to {yaml_file}",
            )
        )
    root = default_root()
    problem = writable(Layout(root).models())
    rows.append(("project root", FAIL if problem else OK, problem or f"{root} (data/, models/ writable)"))
    rows.append(
        (
            "DVC",
            OK if dvc_repo(root) else WARN,
            "a DVC project: materializations are committed to DVC"
            if dvc_repo(root)
            else f"{root} has no .dvc/ and dvc.yaml: materializations are not versioned",
        )
    )
    return rows


def collect() -> list[tuple[str, str, str]]:
    spec, deps = requirements()
    rows = [check_python(spec)]
    rows += [check_requirement(d) for d in deps]
    rows += check_torch() + check_commands() + [check_selection_grammar()] + check_data() + check_places()
    return rows


def cmd_check_env(args: argparse.Namespace) -> int:
    rows = collect()
    width = max(len(r[0]) for r in rows)
    for name, status, detail in rows:
        print(f"{status:4}  {name:<{width}}  {detail}")
    failed = [r for r in rows if r[1] == FAIL]
    warned = [r for r in rows if r[1] == WARN]
    print(f"\n{len(rows)} checks: {len(failed)} failed, {len(warned)} warnings")
    return 1 if failed else 0


def register(sub) -> None:
    p = sub.add_parser(
        "check-env", help="check python, pinned libraries, torch, commands, data, DAGSTER_HOME"
    )
    p.set_defaults(func=cmd_check_env)
