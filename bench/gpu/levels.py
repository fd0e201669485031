"""Issue #22's GPU rows in one call of a lent GPU machine: the pro CGCNN and the pro MACE potential,
trained with ``--set device=cuda`` through the same ``matassets run`` commands as on a CPU.

A lent machine gives 15 minutes in all, its start included, and at most 10 per command, so each
model is time-boxed and the row says so: every CGCNN member stops at ``--cgcnn-budget-s`` (the
trainer's ``time_budget_s``, its schedule shrunk to fit), MACE runs ``--mace-epochs`` epochs of the
pro row's 300 with stage two over the last quarter. What comes back (``--out``; the device tool
returns up to 8 files): ``gpu_levels.json`` (the machine, each command with its wall time and exit
code, every model's ``metrics.json`` and the run record's device, duration, overrides and SHA),
the leaderboard, and one log per command. On this machine first, ``make gpu-bundle``; then one
device call with ``carry: ["artifacts/gpu"]`` and the command of docs/benchmarks.md ("The GPU
levels"). Without the GPU ``--device`` asks for, it stops before installing anything.
``--level smoke --device cpu`` runs the same path on a CPU (its test).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import get_args

from bench.gpu.bundle import ARCHIVE, ROOT
from matassets.levels import Device

PROPERTIES = ("formation_energy", "band_gap")


def install(bundle: Path) -> None:
    """Install ``bench.gpu.bundle``'s wheels into this interpreter: no index, no dependency resolution."""
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(bundle / ARCHIVE, "r:xz") as archive:
            archive.extractall(tmp, filter="data")
        wheels = sorted(str(p) for p in Path(tmp).glob("*.whl"))
        cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", *wheels]
        subprocess.run(cmd + ["--disable-pip-version-check"], check=True)


def commands(level: str, device: str, budget_s: float, mace_epochs: int) -> list[tuple[str, list[str]]]:
    """(model asset, ``matassets`` arguments) of every time-boxed run, in order."""
    on = ["--level", level, "--set", f"device={device}"]
    runs = [
        (f"cgcnn_{p}", ["run", "phase1", "--property", p, *on, "--set", f"time_budget_s={budget_s}"])
        for p in PROPERTIES
    ]
    schedule = ["--set", f"epochs={mace_epochs}", "--set", f"stage_two_from={max(1, mace_epochs * 3 // 4)}"]
    runs.append(("mace_potential", ["run", "phase3", "--algorithm", "mace", *on, *schedule]))
    return runs


def machine() -> dict:
    import platform

    import torch

    cuda = torch.cuda.is_available()
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "gpu_memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
        if cuda
        else None,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def model_summary(root: Path, asset: str, level: str) -> dict | None:
    """The model folder's metrics and what its run record says of the run, or None (no model)."""
    from matassets.io import read_json_dict
    from matassets.paths import Layout

    folder = Layout(root).model_dir(asset, level)
    record = read_json_dict(folder / "run_record.json")
    if record is None:
        return None
    keys = ("device", "duration_s", "overrides", "git_sha", "git_dirty", "started_at", "hardware")
    return {"metrics": read_json_dict(folder / "metrics.json"), **{k: record.get(k) for k in keys}}


def run(args: argparse.Namespace) -> dict:
    out, root = Path(args.out), Path(args.root or tempfile.mkdtemp(prefix="matassets-gpu-"))
    out.mkdir(parents=True, exist_ok=True)
    env = os.environ | {
        "MATASSETS_ROOT": str(root),
        "DAGSTER_HOME": str(root / ".dagster_home"),  # the CLI gives it a dagster.yaml, telemetry off
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
    }
    report = {"machine": machine(), "level": args.level, "device": args.device, "root": str(root), "runs": []}
    cli = [sys.executable, "-m", "matassets.cli"]
    for asset, arguments in commands(args.level, args.device, args.cgcnn_budget_s, args.mace_epochs):
        start = time.perf_counter()
        with open(out / f"{asset}.log", "w", encoding="utf-8") as log:
            rc = subprocess.run(
                cli + arguments, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            ).returncode
        report["runs"].append(
            {
                "asset": asset,
                "command": "matassets " + " ".join(arguments),
                "seconds": round(time.perf_counter() - start, 1),
                "rc": rc,
                "model": model_summary(root, asset, args.level),
            }
        )
        (out / "gpu_levels.json").write_text(json.dumps(report, indent=1), encoding="utf-8")  # as it goes
    board = subprocess.run(cli + ["leaderboard", "--partition", args.level], cwd=ROOT, env=env, text=True,
                           capture_output=True)  # fmt: skip
    (out / "leaderboard.txt").write_text(board.stdout + board.stderr, encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for gpu_levels.json, the logs, the leaderboard")
    parser.add_argument("--bundle", help="install bench.gpu.bundle's wheels from this folder first")
    parser.add_argument("--root", help="the project root to train in (default: a new temporary folder)")
    parser.add_argument("--level", default="pro")
    parser.add_argument("--device", default="cuda", choices=get_args(Device))
    parser.add_argument("--cgcnn-budget-s", type=float, default=20.0, help="per ensemble member")
    parser.add_argument("--mace-epochs", type=int, default=10)
    args = parser.parse_args(argv)
    from matassets.training.distributed import device_type  # torch alone: before the bundle

    try:
        device_type(args.device)  # no GPU: stop before a lent minute goes into the install
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.bundle:
        install(Path(args.bundle))
    report = run(args)
    failed = [r["asset"] for r in report["runs"] if r["rc"] != 0]
    print(json.dumps({r["asset"]: [r["rc"], r["seconds"]] for r in report["runs"]}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
