"""One rank of a data-parallel training run under ``torchrun`` (not a test module).

``torchrun --standalone --nproc-per-node 2 ddp_child.py ROOT OUT`` trains the small smoke CGCNN of
``test_distributed`` on the data under ROOT with ``train_graph_model``. Each rank records, with a
Python audit hook, every file it creates, opens for writing, renames or removes under ROOT, and
writes ``OUT/rank<r>.json``: those writes, its fit and its metrics.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

WRITE_EVENTS = {"os.rename", "os.remove", "os.rmdir", "os.mkdir", "shutil.rmtree", "shutil.move"}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def main() -> None:
    root, out = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    writes: list[str] = []

    def under_root(arg: object) -> bool:
        return isinstance(arg, str | bytes | os.PathLike) and os.path.abspath(os.fsdecode(arg)).startswith(
            str(root)
        )

    def hook(event: str, args: tuple) -> None:
        if event == "open" and under_root(args[0]):
            mode, flags = args[1] or "", args[2] or 0
            if any(c in str(mode) for c in "wax+") or flags & WRITE_FLAGS:
                writes.append(f"open {args[0]}")
        elif event in WRITE_EVENTS and any(under_root(a) for a in args):
            writes.append(f"{event} {' '.join(str(a) for a in args[:2])}")
        elif event in ("tempfile.mkstemp", "tempfile.mkdtemp") and under_root(args[0]):
            writes.append(f"{event} {args[0]}")

    sys.addaudithook(hook)
    from test_distributed import spec

    from matassets.paths import Layout
    from matassets.training.graph_model import train_graph_model

    result = train_graph_model(Layout(root), spec("ddp_torchrun"), log=print)
    rank = int(os.environ["RANK"])
    report = {
        "rank": rank,
        "writes": writes,
        "epochs_run": result.fit.epochs_run,
        "val_scores": [h["val_score"] for h in result.fit.history],
        "metrics": result.metrics,
    }
    (out / f"rank{rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main()
