"""One Markdown table writer for the UI's metadata, the leaderboard, handoff records and docs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def cell(value) -> str:
    """A value as table text: floats to 4 significant digits, None empty, '|' and newlines escaped."""
    if value is None:
        return ""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def coverage(within_1sigma: float, within_2sigma: float) -> str:
    """The fractions of errors inside one and two predicted σ, as every report writes them."""
    return f"within 1σ {within_1sigma:.2f}, 2σ {within_2sigma:.2f}"


def headline_metric(task_metrics: dict) -> str:
    """The one metric a curve or short table shows of one task's metrics: the MAE of a regression,
    the balanced accuracy of a classifier (``training.metrics``)."""
    return "mae" if "mae" in task_metrics else "balanced_accuracy"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence], limit: int | None = None) -> str:
    """``header`` and ``rows`` (sequences of cells, each written with :func:`cell`) as a Markdown
    table; with ``limit``, the first ``limit`` rows and a line saying how many more."""
    rows = list(rows)
    shown = rows if limit is None else rows[:limit]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in shown]
    if len(rows) > len(shown):
        lines.append(f"\n… {len(rows) - len(shown)} more")
    return "\n".join(lines)
