"""The closing block of a CLI run: what each asset left behind, what its checks said, why a run failed.

One block per run, read from the run's events (no second query of the instance):

    run 1a2b… of job phase1_job [smoke]: succeeded
      cgcnn_formation_energy [smoke]: /…/models/cgcnn_formation_energy/smoke
        validation formation_energy: MAE 0.18 eV/atom vs baseline 0.85 eV/atom (ratio 4.7: better)
        test formation_energy: MAE 0.19 eV/atom vs baseline 0.87 eV/atom (ratio 4.6: better)
        checks: beats_mean_baseline passed (validation MAE 0.18 vs mean-predictor MAE 0.85)
      structures [smoke]: checks: quarantine_report passed, enough_clean_structures passed

Each figure names its split. A model's passed check carries its own description, which says what
it judged (``training.gates``: the validation split), so a model that passes its check and reads
"NOT better" on the test split, as a smoke model can, does not read as a contradiction; a failed
check's description is its warning or error line.

A failed step's error (the first line of the exception its asset raised) and a failed check's
description are printed as errors, one line each, so the reason a run stopped is the last thing on
the screen. Without ``-v`` the console logger prints a failure event's first line only
(``console_logger``): its traceback is in the UI's run logs, and on the console with ``-v``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Outcome:
    """What the closing block says, and whether the command should exit 0."""

    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ok: bool = True


def _value(meta, key):
    """A metadata entry as a plain value (Dagster wraps each in a ``MetadataValue``)."""
    import dagster as dg

    value = (meta or {}).get(key)
    return value.value if isinstance(value, dg.MetadataValue) else value


def model_lines(model_dir: Path) -> list[str]:
    """The headline metrics of a model folder: each validation and test metric with its unit beside
    that split's baseline (the validation split's are what the model's check judged)."""
    from matassets.io import read_json_dict
    from matassets.reports.leaderboard import rows_from_metrics
    from matassets.reports.summary import headline

    metrics = read_json_dict(Path(model_dir) / "metrics.json")
    if metrics is None:
        return []
    return [
        f"{name} {row['property']}: {headline(row)}"
        for split, name in (("val", "validation"), ("test", "test"))
        for row in rows_from_metrics({"test": metrics.get(split)})  # that split read as the report's
    ]


def reason(error) -> str:
    """A failed step's error in one line: the first line of the exception the asset raised (Dagster
    wraps it in ``DagsterExecutionStepExecutionError``, whose own line names only the op)."""
    while error is not None and error.cls_name.startswith("Dagster") and error.cause is not None:
        error = error.cause
    lines = (getattr(error, "message", "") or "").strip().splitlines()
    return lines[0] if lines else "failed"


def console_logger(verbose: bool):
    """Dagster's console logger, and without ``-v`` an event's error cut to its first line (``step
    failed``): the closing block, printed last, says why in one line; the traceback is in the UI's
    run logs and, with ``-v``, on the console."""
    import dagster as dg
    from dagster._loggers import colored_console_logger

    def first_paragraph(record) -> bool:
        event = getattr(record, "dagster_meta", {}).get("dagster_event")
        if getattr(getattr(event, "event_specific_data", None), "error", None) is not None:
            record.msg = str(record.msg).split("\n\n", 1)[0]
        return True

    @dg.logger(colored_console_logger.config_schema, description="matassets: the CLI's console")
    def console(init_context):
        log = colored_console_logger.logger_fn(init_context)
        if not verbose:
            log.addFilter(first_paragraph)
        return log

    return console


def _description(evaluation, partition_key: str | None) -> str:
    return (evaluation.description or "no description").removeprefix(f"[{partition_key}] ")


def _check_text(evaluation, judged: str = "") -> str:
    """``name passed`` (``judged``: then ``(judged)``) or ``name FAILED (blocking|warning)`` (its
    description is its warning or error line)."""
    if evaluation.passed:
        return f"{evaluation.check_name} passed" + (f" ({judged})" if judged else "")
    kind = "blocking" if evaluation.blocking else "warning"
    return f"{evaluation.check_name} FAILED ({kind})"


def closing_block(
    result, job_name: str, partition_key: str | None, note: str = "", selection: list[str] = ()
) -> Outcome:
    """Read an ``ExecuteInProcessResult`` into the closing block and the exit verdict; ``note`` (where
    the run is recorded) goes before the warnings and errors, which end the block."""
    out = Outcome()
    where = f" [{partition_key}]" if partition_key else ""
    materialized: dict[str, dict] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        materialized[materialization.asset_key.to_user_string()] = dict(materialization.metadata or {})
    checks: dict[str, list] = {}
    for evaluation in result.get_asset_check_evaluations():
        asset = evaluation.asset_key.to_user_string()
        checks.setdefault(asset, []).append(evaluation)
        if not evaluation.passed:
            description = _description(evaluation, partition_key)
            text = f"{asset}{where}: check {evaluation.check_name} failed: {description}"
            if evaluation.blocking:
                out.errors.append(text)
                out.ok = False
            else:
                out.warnings.append(text)
    for event in result.get_step_failure_events():
        error = getattr(event.event_specific_data, "error", None)
        if getattr(error, "cls_name", "") != "DagsterAssetCheckFailedError":  # that one is said above
            out.errors.append(f"{event.step_key}{where}: {reason(error)}")
        out.ok = False
    failed = {e.step_key for e in result.get_step_failure_events()}
    skipped = [a for a in selection if a not in materialized and a not in failed]
    if not result.success:
        out.ok = False

    models, data = [], []
    for asset, meta in materialized.items():
        path = _value(meta, "model path")
        if path:  # a model's check says what it judged, in its own words (the split and figures)
            verdict = ", ".join(_check_text(c, _description(c, partition_key)) for c in checks.get(asset, []))
            models.append(f"  {asset}{where}: {path}")
            status = _value(meta, "model status")
            if status and status != "current":
                models.append(f"    model status: {status}")
            models += [f"    {line}" for line in model_lines(Path(path))]
            models.append(f"    checks: {verdict or 'none'}")
        else:
            verdict = ", ".join(_check_text(c) for c in checks.get(asset, []))
            data.append(f"  {asset}{where}: checks: {verdict}" if asset in checks else f"  {asset}{where}")
    state = "succeeded" if out.ok else "FAILED"
    if out.ok and out.warnings:
        state = "succeeded with warnings"
    out.lines = [f"run {result.run_id} of job {job_name}{where}: {state}", *models, *data]
    if skipped:
        out.lines.append(f"  not run (an upstream step failed): {', '.join(skipped)}")
    if note:
        out.lines.append(f"  {note}")
    out.lines += [f"warning: {w}" for w in out.warnings]
    out.lines += [f"error: {e}" for e in out.errors]
    return out


def print_block(outcome: Outcome) -> None:
    print("\n".join(outcome.lines), flush=True)
