"""Ensemble spread on unseen elements: is a deep ensemble's spread larger on test crystals that hold
an element no training crystal holds (issue #22)?

Real data: the embedded Materials Project set (a level's ``DATA`` cap: ``lite``'s 1,000 crystals in
quick mode, all 6.3k in full). Every crystal containing one of :data:`HELD_OUT` goes to the test
split; the rest are split as every level's are (``make_splits``: random over identical-structure
groups, 80/10/10). A CGCNN ensemble for formation energy (the ``lite`` preset with ``members``
members and ``epochs`` epochs; ``training.ensemble``) is trained by the one trainer on that split in a
freshly exec'ed process (``python -m bench.unseen_elements --child``, one torch thread unless
``$MATASSETS_THREADS`` says otherwise), which prints one JSON line. The figure: the mean predicted
standard deviation (``formation_energy_std`` of ``predictions.csv``) on test crystals with a
held-out element against those without, and beside it each group's MAE (does the spread follow the
error?).

The held-out elements are an alkali metal, a transition metal and a lanthanide of middling
frequency (229, 244 and 109 of the 6,317 crystals): neighbours of each (K/Rb, Pd, Pr/Sm) stay in
training. CGCNN's atom features describe an element by its group, period, electronegativity and so
on, so an unseen element is not an unknown token: the figure measures what such an ensemble makes of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

HELD_OUT = ("Cs", "Pt", "Nd")
TASK = "formation_energy"
QUICK = {"partition": "lite", "members": 3, "epochs": 10}
FULL = {"partition": "std", "members": 5, "epochs": 20}


def elements_of(formula: str) -> set[str]:
    from matassets.data.splits import chemsys

    return set(chemsys(formula).split("-"))


def held_out_split(clean, held_out: tuple[str, ...], preset):
    """The split manifest: every crystal of ``clean`` with an element of ``held_out`` in test, the
    rest split as a level's are (``preset``: strategy, seed, fractions)."""
    import polars as pl

    from matassets.data import schema
    from matassets.data.pipeline import frame_hash
    from matassets.data.splits import SplitManifest, make_splits

    unseen = clean.filter(
        pl.col(schema.FORMULA).map_elements(lambda f: bool(elements_of(f) & set(held_out)), pl.Boolean)
    )
    rest = clean.filter(~pl.col(schema.ID).is_in(unseen[schema.ID].to_list()))
    version = frame_hash(clean)
    split = make_splits(rest, preset.split_strategy, preset.seed, preset.split_fractions, version)
    assignment = split.assignment | dict.fromkeys(unseen[schema.ID].to_list(), "test")
    strategy = f"{preset.split_strategy}, crystals with {'/'.join(held_out)} in test"
    return SplitManifest(
        strategy, preset.seed, preset.split_fractions, version, dict(sorted(assignment.items()))
    )


def child(
    root: Path, partition: str, members: int, epochs: int, held_out: tuple[str, ...] = HELD_OUT
) -> dict:
    """Build ``partition``'s embedded data under ``root``, split it with ``held_out`` in test, train
    the ensemble and compare the spread on test crystals with and without a held-out element."""
    import numpy as np
    import polars as pl

    from matassets.assets.phase1 import FAMILY
    from matassets.data import schema
    from matassets.data.pipeline import build_graphs, build_raw, build_structures
    from matassets.data.sources import load_source
    from matassets.data.tables import read_table
    from matassets.io import write_json
    from matassets.levels import CGCNN, DATA
    from matassets.paths import Layout
    from matassets.training.graph_model import RunSpec, invariant_architecture, train_graph_model

    start = time.perf_counter()
    layout, data = Layout(root), DATA[partition]
    build_raw(load_source("embedded"), layout, partition)
    build_structures(layout, partition, data)
    clean = read_table(layout.structures(partition), "structures", partition)
    manifest = held_out_split(clean, held_out, data)
    write_json(layout.split_manifest(partition), manifest.to_json())
    build_graphs(layout, partition, data)
    prepared = time.perf_counter()

    preset = replace(CGCNN["lite"], epochs=epochs, ensemble_size=members)
    spec = RunSpec(
        asset="bench_unseen_elements",
        phase="phase1",
        algorithm="cgcnn",
        tasks=[TASK],
        partition=partition,
        preset=preset,
        data=data,
        command=FAMILY.command(partition, TASK),
        architecture=invariant_architecture("cgcnn", preset, data),
    )
    out = train_graph_model(layout, spec, log=lambda message: None)
    rows = pl.read_csv(out.model_dir / "predictions.csv").join(
        clean.select(schema.ID, schema.FORMULA), on=schema.ID
    )
    train_elements = set().union(
        *(elements_of(f) for f in rows.filter(pl.col("split") == "train")[schema.FORMULA])
    )
    test = rows.filter(pl.col("split") == "test").with_columns(
        pl.col(schema.FORMULA)
        .map_elements(lambda f: bool(elements_of(f) - train_elements), pl.Boolean)
        .alias("unseen")
    )

    def group(unseen: bool) -> dict:
        part = test.filter(pl.col("unseen") == unseen)
        error = np.abs(part[f"{TASK}_pred"].to_numpy() - part[f"{TASK}_true"].to_numpy())
        return {"n": part.height, "std": float(part[f"{TASK}_std"].mean()), "mae": float(error.mean())}

    unseen, seen = group(True), group(False)
    return {
        "partition": partition,
        "held_out": list(held_out),
        "members": members,
        "epochs": epochs,
        "epochs_run": json.loads((out.model_dir / "metrics.json").read_text())["epochs_run"],
        "sizes": manifest.sizes(),
        "threads": int(os.environ.get("MATASSETS_THREADS") or 0) or os.cpu_count(),
        "unseen": unseen,
        "seen": seen,
        "std_ratio": unseen["std"] / seen["std"],
        "mae_ratio": unseen["mae"] / seen["mae"],
        "prepare_s": round(prepared - start, 1),
        "train_s": round(time.perf_counter() - prepared, 1),
    }


def run_child(root: Path, partition: str, members: int, epochs: int) -> dict:
    """:func:`child` in a freshly exec'ed Python (one torch thread unless ``$MATASSETS_THREADS``)."""
    env = {**os.environ, "MATASSETS_THREADS": os.environ.get("MATASSETS_THREADS") or "1"}
    argv = [
        sys.executable,
        "-m",
        "bench.unseen_elements",
        "--child",
        str(root),
        partition,
        str(members),
        str(epochs),
    ]
    proc = subprocess.run(
        argv, capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[1]
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(quick: bool) -> dict:
    """Quick: ``lite``'s 1,000 crystals, 3 members of 10 epochs; full: all 6.3k, 5 members of 20."""
    with tempfile.TemporaryDirectory(prefix="bench-unseen-") as tmp:
        return run_child(Path(tmp), **(QUICK if quick else FULL))


def lines(r: dict) -> list[str]:
    n = r["sizes"]
    return [
        f"CGCNN ensemble for formation energy, {r['members']} members (the `lite` preset, "
        f"{r['epochs']} epochs; member 0 ran {r['epochs_run']}), on the `{r['partition']}` level's embedded "
        f"crystals with every crystal containing {', '.join(r['held_out'])} held out in test "
        f"(train {n['train']}, validation {n['val']}, test {n['test']}); {r['threads']} torch thread(s), "
        f"{r['prepare_s']:.0f} s data and graphs, {r['train_s']:.0f} s training.",
        "",
        "| test crystals | n | mean predicted spread (eV/atom) | MAE (eV/atom) |",
        "|---|---|---|---|",
        f"| with an element absent from training | {r['unseen']['n']} | {r['unseen']['std']:.4f} | "
        f"{r['unseen']['mae']:.4f} |",
        f"| without | {r['seen']['n']} | {r['seen']['std']:.4f} | {r['seen']['mae']:.4f} |",
        "",
        f"**Spread ratio, unseen / seen: {r['std_ratio']:.2f}×** (the MAE ratio: {r['mae_ratio']:.2f}×).",
    ]


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        root, partition, members, epochs = sys.argv[2:6]
        print(json.dumps(child(Path(root), partition, int(members), int(epochs))))
    else:
        import argparse

        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--quick", action="store_true")
        print("\n".join(lines(run(parser.parse_args().quick))))
