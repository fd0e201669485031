"""Generated documentation: ``levels-md`` (docs/levels.md), ``graph-png`` (docs/asset_graph.png) and
``benchmarks-md`` (the model table of docs/benchmarks.md, from the folders dvc.lock records)."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import sys
from pathlib import Path

from matassets.levels import PARTITIONS

ORDER = 80


# ------------------------------------------------------------------------------------- levels.md


def _value(v: object) -> str:
    if v is None:
        return "none"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, tuple | list):
        return " / ".join(_value(x) for x in v)
    return str(v).replace("|", "\\|")


def _source_notes(source: str) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """(comment block above each module-level assignment, inline comment of each dataclass field)."""
    lines = source.splitlines()
    tree = ast.parse(source)
    above: dict[str, str] = {}
    fields: dict[str, dict[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            block = []
            i = node.lineno - 2
            while i >= 0 and lines[i].lstrip().startswith("#"):
                block.insert(0, lines[i].strip().lstrip("#").strip())
                i -= 1
            for name in names:
                above[name] = "\n".join(block)
        elif isinstance(node, ast.ClassDef):
            notes = {}
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    text = " ".join(
                        line.split("#", 1)[1].strip()
                        for line in lines[item.lineno - 1 : item.end_lineno]
                        if "#" in line
                    )
                    notes[item.target.id] = text
            fields[node.name] = notes
    return above, fields


def family_tables(module) -> dict[str, dict]:
    """Module-level dicts keyed by exactly the partitions whose values are dataclass presets."""
    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, dict)
        and tuple(value) == tuple(PARTITIONS)
        and all(dataclasses.is_dataclass(v) for v in value.values())
    }


def levels_markdown() -> str:
    import inspect

    import matassets.levels as levels

    source = Path(inspect.getfile(levels)).read_text(encoding="utf-8")
    above, field_notes = _source_notes(source)
    parts = levels.PARTITIONS
    out = [
        "# Levels: every preset, per model family and partition",
        "",
        "<!-- Generated from matassets/levels.py by `matassets levels-md`; do not edit by hand. -->",
        "",
        "Each model family has one row per partition (the runbook's five levels and its competition "
        "profile). Assets read their row from `matassets/levels.py`, show it in the Dagster UI as the "
        "`preset` metadata, and write it into the run record; `matassets run … --set field=value` and "
        "tuning rounds override single fields, as does the asset's run config in the Launchpad, where "
        "a field with choices (`device`, a `Literal` in levels.py) offers them and another "
        "value is refused before the run starts.",
        "",
        f"Partitions: {', '.join(f'`{p}`' for p in parts)}.",
    ]
    constants = {
        n: v
        for n, v in vars(levels).items()
        if n.isupper()
        and not n.startswith("_")
        and isinstance(v, int | float | str | tuple)
        and n != "PARTITIONS"
    }
    if constants:
        out += ["", "| constant | value |", "|---|---|"]
        out += [f"| `{n}` | {_value(v)} |" for n, v in constants.items()]
    for name, table in family_tables(levels).items():
        cls = type(next(iter(table.values())))
        out += ["", f"## `{name}` ({cls.__name__})", ""]
        doc = inspect.getdoc(cls)
        if doc:
            out += [doc, ""]
        if above.get(name):
            out += [above[name], ""]
        notes = {}  # a subclass's fields inherit their base class's notes
        for klass in reversed(cls.__mro__):
            notes.update(field_notes.get(klass.__name__, {}))
        out.append("| field | " + " | ".join(parts) + " | meaning |")
        out.append("|---|" + "---|" * (len(parts) + 1))
        for f in dataclasses.fields(cls):
            cells = [_value(getattr(table[p], f.name)) for p in parts]
            out.append(f"| `{f.name}` | " + " | ".join(cells) + f" | {notes.get(f.name, '')} |")
        out += runbook_deviations_markdown(table)
    return "\n".join(out) + "\n"


def runbook_deviations_markdown(table: dict) -> list[str]:
    """Lines of a preset table's section: every deviation from the runbook's row of each family
    that reads ``table`` (``matassets.runbook``)."""
    from matassets import runbook
    from matassets.families import FAMILIES

    out = []
    for fam in (f for f in FAMILIES if f.presets is table and f.name in runbook.RUNBOOK):
        out += [
            "",
            f"### `{fam.name}`: deviations from the runbook's `{fam.runbook}`",
            "",
            "From `matassets/runbook.py` (the runbook's rows, original-pipeline.md §2-3); each model's run "
            "record (`runbook`) and asset metadata carry its own. An empty reason: no document gives one.",
            "",
            "| level | field: runbook → ours | why |",
            "|---|---|---|",
        ]
        for partition, preset in table.items():
            by_reason: dict[str, list[str]] = {}
            for d in runbook.deviations(fam.name, partition, preset):
                change = f"`{d['field']}`: {_value(d['runbook'])} → {_value(d['ours'])}"
                by_reason.setdefault(d["why"], []).append(change)
            out += [f"| {partition} | {'; '.join(changes)} | {why} |" for why, changes in by_reason.items()]
    return out


def cmd_levels_md(args: argparse.Namespace) -> int:
    return _write_or_check(
        Path(args.out) if args.out else _docs() / "levels.md", levels_markdown(), args.check, "levels-md"
    )


def _docs() -> Path:
    from matassets.paths import PROJECT_ROOT

    return PROJECT_ROOT / "docs"


def _write_or_check(path: Path, text: str, check: bool, command: str) -> int:
    from matassets.io import atomic_write

    current = path.read_text(encoding="utf-8") if path.is_file() else None
    if check:
        if current != text:
            print(f"{path} is out of date: run `matassets {command}`", file=sys.stderr)
            return 1
        print(f"{path} is up to date")
        return 0
    if current != text:
        atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    print(f"wrote {path}")
    return 0


# ------------------------------------------------------------------------------------ the graph


def graph_layout(infos: dict) -> dict[str, tuple[float, float]]:
    """x = depth in the graph (longest path from a root), y = place within that depth."""
    depth: dict[str, int] = {}
    for name, info in infos.items():  # topological order
        depth[name] = 1 + max((depth[p] for p in info.parents if p in depth), default=-1)
    columns: dict[int, list[str]] = {}
    for name, d in depth.items():
        columns.setdefault(d, []).append(name)
    pos = {}
    for d, names in columns.items():
        names.sort(key=lambda n: (infos[n].group, n))
        for i, name in enumerate(names):
            pos[name] = (float(d), (len(names) - 1) / 2 - i)
    return pos


def direct_edges(infos: dict) -> list[tuple[str, str]]:
    """Parent → child edges, without those implied by a longer path (a transitive reduction)."""
    ancestors: dict[str, set[str]] = {}
    for name, info in infos.items():  # topological order
        ancestors[name] = set()
        for parent in info.parents:
            if parent in ancestors:
                ancestors[name] |= {parent} | ancestors[parent]
    edges = []
    for name, info in infos.items():
        parents = [p for p in info.parents if p in infos]
        for parent in parents:
            if not any(parent in ancestors[other] for other in parents if other != parent):
                edges.append((parent, name))
    return edges


def render_graph(path: Path) -> list[str]:
    """Draw the Dagster asset graph (nodes coloured by group) to ``path``; returns the asset names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    from matassets.cli._common import asset_infos

    infos = asset_infos()
    pos = graph_layout(infos)
    groups = sorted({i.group for i in infos.values()})
    colours = {g: plt.get_cmap("tab10")(k % 10) for k, g in enumerate(groups)}
    columns = 1 + int(max(x for x, _ in pos.values()))
    rows = max(abs(y) for _, y in pos.values()) * 2 + 1
    box_w, box_h = 0.78, 0.5
    fig, ax = plt.subplots(figsize=(2.7 * columns + 1.6, 0.55 * rows + 1.2))
    for parent, child in direct_edges(infos):
        (x0, y0), (x1, y1) = pos[parent], pos[child]
        ax.annotate(
            "",
            xy=(x1 - box_w / 2, y1),
            xytext=(x0 + box_w / 2, y0),
            arrowprops={"arrowstyle": "-|>", "color": "0.45", "lw": 0.9, "shrinkA": 0, "shrinkB": 1},
        )
    for name, (x, y) in pos.items():
        ax.add_patch(
            FancyBboxPatch(
                (x - box_w / 2, y - box_h / 2),
                box_w,
                box_h,
                boxstyle="round,pad=0,rounding_size=0.08",
                fc=(*colours[infos[name].group][:3], 0.35),
                ec="0.35",
                lw=0.8,
            )
        )
        ax.text(x, y, name, ha="center", va="center", fontsize=7.5 if len(name) < 22 else 6.5)
    handles = [plt.Line2D([], [], marker="s", ls="", ms=10, color=colours[g], alpha=0.5) for g in groups]
    ax.legend(handles, groups, title="group", loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_xlim(-0.5, columns - 0.5)
    ax.set_ylim(-rows / 2, rows / 2)
    ax.axis("off")
    ax.set_title(
        "matassets asset graph: every asset partitioned by level (edges implied by a longer path omitted)",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130, metadata={"Software": None})
    plt.close(fig)
    return list(infos)


def cmd_graph_png(args: argparse.Namespace) -> int:
    path = Path(args.out) if args.out else _docs() / "asset_graph.png"
    names = render_graph(path)
    print(f"wrote {path} ({len(names)} assets)")
    return 0


# ------------------------------------------------------------------------------- benchmarks.md


def cmd_benchmarks_md(args: argparse.Namespace) -> int:
    from matassets.paths import PROJECT_ROOT, default_root
    from matassets.reports import benchmarks

    path = Path(args.out) if args.out else _docs() / "benchmarks.md"
    # a new --out file starts from the checkout's page; --check reads the page it is given
    source = path if path.is_file() or args.check else _docs() / "benchmarks.md"
    if not source.is_file():
        print(f"error: {source}: no such file", file=sys.stderr)
        return 2
    text = source.read_text(encoding="utf-8")
    if args.check:
        problems = benchmarks.check_section(text, args.root or PROJECT_ROOT, path)
        for problem in problems:
            print(f"FAILED: {problem}", file=sys.stderr)
        print(f"{path}: {'every model row is in dvc.lock' if not problems else 'untraceable rows'}")
        return 1 if problems else 0
    rows, skipped = benchmarks.model_rows(args.root or default_root(), args.level or ["std"])
    for reason in skipped:
        print(f"left out: {reason}", file=sys.stderr)
    return _write_or_check(path, benchmarks.write_section(text, rows, path), False, "benchmarks-md")


def register(sub) -> None:
    p = sub.add_parser("levels-md", help="write docs/levels.md from matassets/levels.py")
    p.add_argument("--check", action="store_true", help="exit 1 when docs/levels.md is out of date")
    p.add_argument("--out")
    p.set_defaults(func=cmd_levels_md)
    g = sub.add_parser("graph-png", help="draw the asset graph to docs/asset_graph.png")
    g.add_argument("--out")
    g.set_defaults(func=cmd_graph_png)
    b = sub.add_parser(
        "benchmarks-md",
        help="write docs/benchmarks.md's model table from the locked model folders",
        description="Rewrites the table between <!-- models:start --> and <!-- models:end --> from every "
        "model folder of the levels whose md5 dvc.lock records (test metric, baseline, ensemble size, "
        "wall time, load and git SHA at the start, dvc.lock md5); --check: exit 1 when a row names a "
        "md5 that dvc.lock does not record for its stage.",
    )
    b.add_argument("--level", action="append", choices=PARTITIONS, help="a level (repeat; default std)")
    b.add_argument("--root", type=Path, help="project root (default: $MATASSETS_ROOT or the checkout)")
    b.add_argument("--check", action="store_true", help="check the rows against dvc.lock instead")
    b.add_argument("--out")
    b.set_defaults(func=cmd_benchmarks_md)
