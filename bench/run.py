"""``make bench``: run every benchmark and write the results into docs/benchmarks.md.

Results are ratios against a baseline measured in the same run, never absolute targets in tests.
The block between the markers in docs/benchmarks.md is replaced; the rest of the file is kept.
``--quick`` (``make bench-quick``) runs a smaller version of each benchmark, a few minutes on two
idle cores: every benchmark's ``run(quick)`` says what it leaves out. Torch threads: one per core,
or ``$MATASSETS_THREADS`` (use 1 on cores shared with other jobs: threads spin-waiting on
descheduled siblings made a CGCNN epoch 6x slower with 2 threads than with 1 on 2 busy cores).
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


def section(quick: bool) -> str:
    import torch

    from bench import (
        cluster,
        graph_building,
        graph_memory,
        ingestion,
        orchestration,
        train_throughput,
        unseen_elements,
    )
    from matassets.training.mace_runner import threads_for_children

    torch.set_num_threads(threads_for_children())  # one per core, or $MATASSETS_THREADS
    sha = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    lines = [
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} at the start), "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, commit {sha}, "
        f"command `make {'bench-quick' if quick else 'bench'}` "
        f"(`{sys.executable} -m bench.run{' --quick' if quick else ''}`), "
        f"{'quick' if quick else 'full'} mode.",
        "",
    ]

    g = graph_building.run(quick)
    lines += ["### Graph building (8 Å, 12 neighbours)", "", "| measure | value |", "|---|---|"]
    lines += [f"| {k} | {fmt(v)} |" for k, v in g.items()]
    lines += [
        "",
        f"**Speed-up over the per-atom pymatgen baseline: {g['speedup']:.1f}×** "
        f"(target ≥ 10×); graphs differing from the baseline: {g['graphs_differing']}.",
        "",
        "Scaling, sharded vs single-file store (embedded set replicated; `bench/graph_memory.py`: "
        "each step in a fresh process, peak resident set, base = resident set before the step):",
        "",
    ]
    lines += graph_memory.table(graph_memory.run(quick))

    t = train_throughput.run(quick)
    rows = t["rows"]
    lines += [
        "",
        "### CGCNN training throughput (one epoch on the embedded set)",
        "",
        f"{t['graphs']} graphs (those with 12 neighbours per atom), {t['threads']} threads; "
        "layouts timed interleaved, best epoch of several. `ours` takes the dense fixed-neighbour "
        "layout when a batch allows it (always here).",
        "",
        "| configuration / layout | graphs/s | collate | forward | backward | step |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['graphs_per_s']:.0f} | {r['collate_fraction']:.1%} | "
            f"{r['forward_fraction']:.1%} | {r['backward_fraction']:.1%} | "
            f"{r['step_fraction']:.1%} |"
        )
    lines += [
        "",
        f"**Ours at the original settings: {t['ours_graphs_per_s']:.0f} graphs/s**, "
        f"{t['ours_vs_scatter']:.2f}× our edge-list scatter layout and "
        f"{t['ours_vs_original_dense']:.2f}× the original code's dense layout in this run; "
        f"anchor: the original code at {t['anchor_graphs_per_s']} graphs/s on this machine kind.",
        "",
        "Operators with the most self CPU time in one profiled epoch of ours at the original settings:",
        "",
        "| operator | share |",
        "|---|---|",
    ]
    lines += [f"| `{op}` | {share:.1%} |" for op, share in t["operators"]]

    a = train_throughput.angle_options(quick)
    lines += [
        "",
        "### Three-body options (CGCNN, batch 64, 64 hidden, 3 conv, AdamW)",
        "",
        f"{a['graphs']} graphs, {a['threads']} threads; timed interleaved batch by batch, best epoch.",
        "",
        "| option | graphs/s | time per epoch vs none |",
        "|---|---|---|",
    ]
    lines += [f"| {k} | {r['graphs_per_s']:.0f} | {r['time_ratio']:.2f}× |" for k, r in a["rows"].items()]

    o = orchestration.run(quick)
    lines += [
        "",
        "### Orchestration overhead (smoke cgcnn_formation_energy)",
        "",
        f"Full smoke training, best of {1 if quick else 3} interleaved pairs, {o['threads']} torch "
        f"thread(s): direct call {o['direct_s']:.2f} s, through `dagster.materialize` "
        f"{o['dagster_s']:.2f} s: **ratio {o['ratio']:.2f}** (target ≤ 1.3). Fixed cost of the Dagster "
        f"run (its wall time outside the training it ran): {o['dagster_fixed_s']:.2f} s "
        f"(direct call: {o['direct_fixed_s']:.2f} s).",
        "",
        "Unchanged re-materialization (same data, split, graphs, preset and code: training skipped, "
        f"files untouched): {o['skip_dagster_s']:.2f} s through Dagster ({o['skip_direct_s']:.2f} s "
        f"direct) vs {o['dagster_s']:.2f} s for a full one.",
    ]

    lines += ["", "### Steps on Celery workers (`bench/cluster.py`)", "", *cluster.lines(cluster.run(quick))]
    lines += ["", "### Ingestion: files on disk → validated structures → graphs (`bench/ingestion.py`)", ""]
    lines += ingestion.lines(ingestion.run(quick))
    lines += ["", "### Ensemble spread on unseen elements (`bench/unseen_elements.py`)", ""]
    lines += unseen_elements.lines(unseen_elements.run(quick))
    return "\n".join(lines)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs, a few minutes")
    body = section(parser.parse_args().quick)
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
