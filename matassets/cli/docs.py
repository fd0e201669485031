"""Generated documentation: ``levels-md`` (docs/levels.md) and ``graph-png`` (docs/asset_graph.png)."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import sys
from pathlib import Path

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
    from matassets.levels import PARTITIONS

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
        "tuning rounds override single fields.",
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
        notes = field_notes.get(cls.__name__, {})
        out.append("| field | " + " | ".join(parts) + " | meaning |")
        out.append("|---|" + "---|" * (len(parts) + 1))
        for f in dataclasses.fields(cls):
            cells = [_value(getattr(table[p], f.name)) for p in parts]
            out.append(f"| `{f.name}` | " + " | ".join(cells) + f" | {notes.get(f.name, '')} |")
    return "\n".join(out) + "\n"


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


def register(sub) -> None:
    p = sub.add_parser("levels-md", help="write docs/levels.md from matassets/levels.py")
    p.add_argument("--check", action="store_true", help="exit 1 when docs/levels.md is out of date")
    p.add_argument("--out")
    p.set_defaults(func=cmd_levels_md)
    g = sub.add_parser("graph-png", help="draw the asset graph to docs/asset_graph.png")
    g.add_argument("--out")
    g.set_defaults(func=cmd_graph_png)
