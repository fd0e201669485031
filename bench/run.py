"""``make bench``: run every benchmark and write the results into docs/benchmarks.md.

Results are ratios against a baseline measured in the same run, never absolute targets in tests.
The block between the markers in docs/benchmarks.md is replaced; the rest of the file is kept.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def fmt(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def section() -> str:
    import torch

    from bench import graph_building, orchestration, train_throughput

    torch.set_num_threads(os.cpu_count() or 1)
    sha = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    lines = [
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}, commit {sha}, "
        f"command `make bench` (`{sys.executable} -m bench.run`).",
        "",
    ]

    g = graph_building.run()
    lines += ["### Graph building (8 Å, 12 neighbours)", "", "| measure | value |", "|---|---|"]
    lines += [f"| {k} | {fmt(v)} |" for k, v in g.items()]
    lines += [
        "",
        f"**Speed-up over the per-atom pymatgen baseline: {g['speedup']:.1f}×** "
        f"(target ≥ 10×); graphs differing from the baseline: {g['graphs_differing']}.",
        "",
        "Scaling (embedded set replicated):",
        "",
        "| structures | seconds | structures/s | peak traced MB | store MB |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['n']} | {r['seconds']:.1f} | {r['per_s']:.0f} | {r['peak_traced_mb']:.0f} | "
        f"{r['store_mb']:.0f} |"
        for r in graph_building.scaling()
    ]

    t = train_throughput.run()
    lines += [
        "",
        "### CGCNN training throughput (one epoch on the embedded set)",
        "",
        f"{t.pop('graphs')} graphs (those with 12 neighbours per atom), {t.pop('threads')} threads.",
        "",
        "| configuration / layout | graphs/s | collate | forward | backward | step |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in t.items():
        lines.append(
            f"| {name} | {r['graphs_per_s']:.0f} | {r['collate_fraction']:.1%} | "
            f"{r['forward_fraction']:.1%} | {r['backward_fraction']:.1%} | "
            f"{r['step_fraction']:.1%} |"
        )

    o = orchestration.run()
    lines += [
        "",
        "### Orchestration overhead (smoke cgcnn_formation_energy)",
        "",
        f"direct call {o['direct_s']:.2f} s, through `dagster.materialize` {o['dagster_s']:.2f} s: "
        f"**ratio {o['ratio']:.2f}** (target ≤ 1.3).",
    ]
    return "\n".join(lines)


def main() -> None:
    body = section()
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n\n"
    block = f"{START}\n{body}\n{END}"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n## Speed (make bench)\n\n" + block + "\n"
    DOC.write_text(text, encoding="utf-8")
    print(body)


if __name__ == "__main__":
    main()
