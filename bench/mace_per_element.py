"""One element's MACE at a level's preset with overrides, beside GAP and MTP (issue #22).

A per-element preset is cheap to try: an element has ~200 training cells, a sixth of the
one-for-all model's. This trains the named elements one after the other on the level's
``data/mace/<level>/`` files (``matassets materialize --asset mace_training_data --level std``
first) with the code ``per_element`` training uses (``training.potential_per_element.train_element``),
in a scratch folder, and prints one line per element: its validation and official-test errors and
the test energy MAE as a multiple of GAP's. The level's per-element schedule applies
(``MacePreset.for_one_element``): try another with ``--set per_element_epochs=...`` (and
``per_element_batch_size``, ``per_element_stage_two_from``, ``per_element_patience``). Not part of
``make bench`` (14-50 CPU-minutes per element at std, Mo to Ni)::

    python -m bench.mace_per_element Mo Ge --level std --set per_element_epochs=100

One torch thread unless ``$MATASSETS_THREADS`` says otherwise (two of these share 2 cores).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def run(elements: list[str], level: str, overrides: dict, root: Path) -> Iterator[dict]:
    """Each element's errors, as soon as its model is trained and evaluated."""
    from matassets.data.mlearn import read_manifest
    from matassets.levels import MACE
    from matassets.paths import Layout
    from matassets.reports.references import MLEARN_REFERENCES
    from matassets.training.potential_eval import metrics_by_split_and_element
    from matassets.training.potential_per_element import train_element

    preset = dataclasses.replace(MACE[level], **overrides)
    data_dir = Layout(root).mace_data(level)
    e0s = read_manifest(data_dir)["e0s_eV"]
    with tempfile.TemporaryDirectory(prefix="bench-mace-") as tmp:
        for element in elements:
            start = time.perf_counter()
            _, predictions = train_element(
                preset, data_dir, element, e0s[element], Path(tmp) / element, log=lambda m: None
            )
            metrics = metrics_by_split_and_element(predictions, e0s)
            val, test = metrics["val"][element], metrics["test"][element]
            gap = MLEARN_REFERENCES["GAP"][element][0]
            yield {
                "element": element,
                "minutes": round((time.perf_counter() - start) / 60, 1),
                "val_E": val["energy_mae_meV_per_atom"],
                "test_E": test["energy_mae_meV_per_atom"],
                "test_F": test["force_mae_meV_per_A"],
                "GAP_E": gap,
                "MTP_E": MLEARN_REFERENCES["MTP"][element][0],
                "test_E_over_GAP": test["energy_mae_meV_per_atom"] / gap,
            }


def line(r: dict) -> str:
    return (
        f"{r['element']}: {r['minutes']} min; E MAE validation {r['val_E']:.2f}, test {r['test_E']:.2f} "
        f"meV/atom ({r['test_E_over_GAP']:.1f}× GAP's {r['GAP_E']}, MTP {r['MTP_E']}); "
        f"test F MAE {r['test_F']:.0f} meV/Å"
    )


if __name__ == "__main__":
    from matassets.cli.run import parse_sets
    from matassets.paths import default_root

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("elements", nargs="+")
    parser.add_argument("--level", default="std")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    os.environ.setdefault("MATASSETS_THREADS", "1")
    overrides = parse_sets(args.set)
    print(f"MACE per element, {args.level} preset with {overrides or 'no overrides'}")
    for r in run(args.elements, args.level, overrides, default_root()):
        print(line(r), flush=True)
