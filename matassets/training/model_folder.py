"""One model folder for every family: candidate → checks → promotion, hashed files, history.

Every training (the GNN trainer, MACE, the forest) writes through a :class:`ModelFolder`:

1. ``begin()`` when the run starts: the candidate's id and the run's provenance (``run_record``);
2. ``stage()``, then ``write_json`` / ``write_rows`` / ``write_csv`` / ``save`` into a staging folder
   under the work folder (``models/<asset>/.work/<level>/staging``);
3. ``commit(record)``: the run record, ``files.sha256`` (the content hash of every file) and an
   atomic rename to the **candidate** folder ``models/<asset>/candidates/<level>-<run>/`` (a tuning
   round's: ``models/<asset>/tuning/<session>/round_<n>/``);
4. :func:`conclude` judges the candidate with its blocking checks (``training.gates``): one that passes
   is **promoted** (moved over ``models/<asset>/<level>/``, atomically; a line appended to
   ``models/<asset>/<level>.history.jsonl``); one that fails stays a candidate with ``decision.json``
   naming the failed check, and the current model stays as it was.

Whoever loads a model folder (reuse, predict, relax, summary, leaderboard, promotion) calls
:func:`verify`: a file whose bytes differ from ``files.sha256`` is refused, naming the file. A folder
without ``files.sha256`` (written before it existed) loads, but is never reused: it is retrained.

Paths come from :class:`matassets.paths.Layout` only. No Dagster here.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from matassets.io import (
    MANIFEST,
    IntegrityError,
    atomic_write,
    check_against,
    csv_cell,
    read_json_dict,
    read_manifest,
    replace_dir,
    sha256_file,
    write_json,
    write_manifest,
)
from matassets.paths import Layout
from matassets.training.gates import Gate, blocking_failures
from matassets.training.history import append_history, history_entry, now

MEMBER_FILE = "member_{k}.pt"  # an ensemble's member k >= 1 beside model.pt (training.ensemble)


def member_files(size: int) -> list[str]:
    """The weight files of a ``size``-member folder, member 0 first."""
    return ["model.pt"] + [MEMBER_FILE.format(k=k) for k in range(1, size)]


def folder_size(config: dict) -> int:
    """The member count of a model folder from its ``config.json`` (folders written before
    ensembles existed have no ``ensemble_size``: one member)."""
    return int((config.get("preset") or {}).get("ensemble_size") or 1)


DECISION = "decision.json"
RECORD = "run_record.json"

# ------------------------------------------------------------------------------------ hashes


def _files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in Path(folder).rglob("*")
        if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")
    )


def seal(folder: Path) -> Path:
    """Write ``files.sha256`` (``sha256  relative/path`` per file, as ``sha256sum -c`` reads it)."""
    return write_manifest(Path(folder), _files(folder))


def manifest_digest(folder: Path) -> str | None:
    """One hash for the whole folder: the sha256 of its ``files.sha256``."""
    path = Path(folder) / MANIFEST
    return sha256_file(path) if path.is_file() else None


def verify(folder: Path, require: bool = False) -> bool:
    """Check every file of ``folder`` against its ``files.sha256``; raise :class:`IntegrityError`
    naming the first file that differs, is missing, or is not listed. Returns False (or raises when
    ``require``) for a folder without a manifest, True when every file matches."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        if require:
            raise IntegrityError(f"{folder / MANIFEST}: missing; the folder's files cannot be checked")
        return False
    for name in manifest:
        check_against(folder / name, folder, manifest, "after training")
    extra = [p.relative_to(folder).as_posix() for p in _files(folder)]
    extra = [n for n in extra if n not in manifest]
    if extra:
        raise IntegrityError(f"{folder / extra[0]}: not listed in {folder / MANIFEST}; refusing the folder")
    return True


# ------------------------------------------------------------------------------------ output


@dataclass
class ModelOutput:
    """What every family's training returns."""

    model_dir: Path  # the candidate after training; the current model once promoted or reused
    metrics: dict  # {"train"|"val"|"test": {task: {...}}}
    record: dict  # the run record
    fit: object = None  # the trainer's FitResult (GNN), the MaceRun (MACE), None (forest)
    details: dict = field(default_factory=dict)  # family specifics (forest: selection, threshold)
    skipped: str = ""  # why training was skipped (the current folder was up to date); "" = trained
    folder: ModelFolder | None = None
    status: str = "candidate"  # candidate | current | failed | tuning
    gates: list[Gate] = field(default_factory=list)
    decision: str = ""  # what happened to the candidate, in words


@dataclass
class ModelFolder:
    """Where one asset partition's model lives and how a run writes it."""

    layout: Layout
    asset: str
    partition: str
    output_tag: str = ""  # a tuning round (``<session>/round_<n>``): its own candidate, never promoted here
    run: str = ""  # the candidate's id, set by ``begin``

    @property
    def final(self) -> Path:
        """The current model: ``models/<asset>/<level>/``."""
        return self.layout.model_dir(self.asset, self.partition)

    @property
    def work(self) -> Path:
        """Checkpoints and staging of this asset partition (of this tuning round)."""
        if self.output_tag:
            tuning = self.layout.tuning_model_dir(self.asset, self.output_tag)
            return tuning.parent / ".work" / tuning.name
        return self.layout.model_work_dir(self.asset, self.partition)

    @property
    def lock(self) -> Path:
        """The run lock: one per asset partition (one per candidate in a tuning round)."""
        return self.final.parent / ".work" / f"{self.output_tag or self.partition}.lock"

    @property
    def candidate(self) -> Path:
        if self.output_tag:
            return self.layout.tuning_model_dir(self.asset, self.output_tag)
        if not self.run:
            raise ValueError("ModelFolder.begin() names the candidate; call it first")
        return self.layout.candidate_dir(self.asset, self.partition, self.run)

    @property
    def staging(self) -> Path:
        return self.work / "staging"

    def begin(self, dagster_run_id: str | None = None) -> dict:
        """Name the candidate and take the run's provenance (git, code, libraries, hardware) now."""
        from matassets.training.incremental import code_version
        from matassets.training.run_record import start_provenance

        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        self.run = f"{stamp}-{(dagster_run_id or os.urandom(4).hex())[:8]}"
        return start_provenance(code_version())

    def reusable(self, key: str, files: Sequence[str]) -> dict | None:
        """The run record of the current folder (the tuning candidate's) when it is complete, was
        written from the input key ``key`` and its files match their hashes. A changed file raises
        :class:`IntegrityError`: a reuse never hands tampered files on (nor to DVC)."""
        target = self.candidate if self.output_tag else self.final
        if not all((target / f).is_file() for f in (RECORD, *files)):
            return None
        record = read_json_dict(target / RECORD)
        if record is None or record.get("input_key") != key:
            return None
        return record if verify(target) else None

    def stage(self) -> Path:
        if self.staging.exists():
            shutil.rmtree(self.staging)
        self.staging.mkdir(parents=True)
        return self.staging

    def save(self, name: str, write: Callable[[Path], None]) -> Path:
        return atomic_write(self.staging / name, write)

    def write_json(self, name: str, data: object) -> Path:
        return write_json(self.staging / name, data)

    def write_rows(self, name: str, rows: list[dict]) -> Path:
        """A list of dicts as CSV; columns sorted, ``epoch`` first; text cells escaped (``io.csv_cell``)."""
        columns = sorted({k for r in rows for k in r}, key=lambda k: (k != "epoch", k))

        def write(tmp: Path) -> None:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=[csv_cell(c) for c in columns])
                writer.writeheader()
                writer.writerows({csv_cell(k): csv_cell(v) for k, v in r.items()} for r in rows)

        return self.save(name, write)

    def write_csv(self, name: str, header: Sequence[str], rows) -> Path:
        def write(tmp: Path) -> None:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow([csv_cell(c) for c in header])
                writer.writerows([csv_cell(v) for v in row] for row in rows)

        return self.save(name, write)

    def copy_in(self, source: Path, name: str) -> Path:
        return self.save(name, lambda tmp: shutil.copyfile(source, tmp))

    def commit(self, record: dict) -> Path:
        """Write the run record and the hashes, then rename the staging folder to the candidate."""
        write_json(self.staging / RECORD, record)
        seal(self.staging)
        self.candidate.parent.mkdir(parents=True, exist_ok=True)
        return replace_dir(self.staging, self.candidate)

    def record_fields(self) -> dict:
        """What a run record says of its folders: where it goes when promoted (a tuning round stays
        where it is), and the candidate it is written to first."""
        final = self.candidate if self.output_tag else self.final
        return {"output_dir": str(final), "candidate_dir": str(self.candidate)}


def for_model(layout: Layout, asset: str, partition: str, output_tag: str = "") -> ModelFolder:
    return ModelFolder(layout, asset, partition, output_tag)


# ------------------------------------------------------------------------------------ decisions


def write_decision(folder: Path, status: str, by: str, reason: str, gates: Sequence[Gate] = ()) -> dict:
    """Record in ``folder`` what was decided about it, and re-seal its hashes."""
    decision = {
        "status": status,
        "at": now(),
        "by": by,
        "reason": reason,
        "gates": [g.as_dict() for g in gates],
    }
    write_json(Path(folder) / DECISION, decision)
    seal(folder)
    return decision


def promote(
    layout: Layout,
    asset: str,
    partition: str,
    candidate: Path,
    *,
    by: str,
    reason: str,
    gates: Sequence[Gate] = (),
    keep_candidate: bool = False,
    record_updates: dict | None = None,
    commit: Callable[[], str | None] | None = None,
) -> dict:
    """Make ``candidate`` the current model of ``asset`` [``partition``], atomically: checked against its
    hashes, moved (copied when ``keep_candidate``, a tuning round) over ``models/<asset>/<level>/``;
    then ``commit()`` (the DVC commit, returning its hash) and a history line. Returns the line."""
    candidate = Path(candidate)
    verify(candidate, require=True)
    final = layout.model_dir(asset, partition)
    staging = final.parent / ".work" / f"promote-{partition}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.parent.mkdir(parents=True, exist_ok=True)
    (shutil.copytree if keep_candidate else shutil.move)(str(candidate), str(staging))
    record = read_json_dict(staging / RECORD) or {}
    record.update(output_dir=str(final), promoted_from=str(candidate), **(record_updates or {}))
    write_json(staging / RECORD, record)
    write_decision(staging, "promoted", by, reason, gates)
    replace_dir(staging, final)
    _drop_if_empty(candidate.parent)
    version = commit() if commit else None
    entry = history_entry(layout, asset, partition, final, record, by=by, reason=reason)
    entry["dvc_md5"] = version
    append_history(layout, asset, partition, entry)
    return entry


def _drop_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def conclude(
    output: ModelOutput,
    gates: Sequence[Gate],
    by: str = "checks",
    commit: Callable[[], str | None] | None = None,
    lock: bool = True,
) -> ModelOutput:
    """Judge a freshly trained candidate: promote it when no blocking gate failed, else leave it (with
    ``decision.json``) beside the current model. A reused folder or a tuning round is left as it is."""
    output.gates = list(gates)
    folder = output.folder
    if output.skipped or folder is None:
        output.status = "current"
        return output
    if folder.output_tag:
        write_decision(output.model_dir, "tuning", by, "a tuning round: the session promotes", gates)
        output.status, output.decision = "tuning", f"tuning candidate {folder.output_tag}"
        return output
    failed = blocking_failures(list(gates))
    if failed:
        reason = "; ".join(f"{g.name} failed: {g.description}" for g in failed)
        write_decision(output.model_dir, "failed", by, reason, gates)
        output.status = "failed"
        output.decision = f"not promoted ({reason}); the current model {folder.final} is unchanged"
        return output
    reason = "passed " + ", ".join(g.name for g in gates) if gates else "no checks (direct call)"

    def run() -> dict:
        return promote(
            folder.layout, folder.asset, folder.partition, output.model_dir, by=by, reason=reason,
            gates=gates, commit=commit,
        )  # fmt: skip

    if lock:
        from matassets.locks import run_lock

        with run_lock(folder.lock, f"{folder.asset} [{folder.partition}]"):
            entry = run()
    else:
        entry = run()
    output.model_dir, output.status = folder.final, "current"
    output.record = read_json_dict(folder.final / RECORD) or output.record
    output.decision = f"promoted to {folder.final} (version {entry['version']}): {reason}"
    return output


def candidates(layout: Layout, asset: str, partition: str) -> list[Path]:
    """The candidates of ``asset`` [``partition``] still on disk, oldest first."""
    root = layout.candidates_root(asset)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(f"{partition}-"))
