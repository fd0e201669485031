"""Screening: one trained model's predictions for every candidate crystal of a data set.

The candidates are a data set's clean structures at a level (its validated ``structures`` table: a
folder of CIF/POSCAR files registered without targets is such a data set), less those the model was
trained on: an id listed with split ``train`` in the model folder's own ``predictions.csv`` (the
training set the model saw, whatever the data set's splits are now). Predictions go through
:mod:`matassets.inference.predict` (``load_model``, ``check_structure``, ``predict_structures``), the
one prediction path ``matassets predict`` also takes; a data set's composition forest
(``training.property_forest``) predicts from the table's formula and space group instead.

``predictions.csv`` / ``predictions.parquet``: one row per (candidate, property) with ``id``,
``formula``, ``property``, ``mean``, ``std``, ``sigma``, ``unit``, ``ensemble_size``,
``unseen_elements`` (those no training crystal of the model held, comma-separated, empty for none;
null for a folder written before training recorded them: ``inference.domain``) and
``model_version`` (the model folder's hash, ``model_folder.manifest_digest``). ``mean`` is the
ensemble members' mean and ``std`` their standard deviation; a single model has no spread to report
and writes ``std`` 0. ``sigma`` is the calibrated error bar, ``std`` times the scale fitted on the
model's validation split (``LoadedModel.sigma_scales``, as ``matassets predict``'s
``<task>_sigma``); empty where there is no scale (one model, a composition forest). A
candidate the model cannot judge (an atom with no neighbour within its cutoff, an unparsable
structure) is listed in ``screening.json`` with its reason, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from matassets.data import schema
from matassets.data.parsing import parse_structure
from matassets.inference import domain
from matassets.inference.predict import PredictInputError, load_model
from matassets.training.model_folder import manifest_digest

COLUMNS = (
    "id",
    "formula",
    "property",
    "mean",
    "std",
    "sigma",
    "unit",
    "ensemble_size",
    "unseen_elements",
    "model_version",
)
SCHEMA = {c: pl.Utf8 for c in COLUMNS} | {
    "mean": pl.Float64,
    "std": pl.Float64,
    "sigma": pl.Float64,
    "ensemble_size": pl.Int64,
}
CHUNK = 512  # structures per graph store (screening, predict): memory stays bounded on many


@dataclass
class Screening:
    table: pl.DataFrame  # COLUMNS, one row per (candidate, property)
    model_version: str
    ensemble_size: int
    excluded: int = 0  # candidates the model was trained on
    skipped: list[dict] = field(default_factory=list)  # {"id", "reason"} of candidates not judged

    @property
    def count(self) -> int:
        """Candidates with a prediction."""
        return self.table["id"].n_unique()

    @property
    def extrapolated(self) -> int | None:
        """Candidates with an element no training crystal of the model held (None: the folder was
        written before training recorded its elements)."""
        cells = self.table["unseen_elements"]
        if len(cells) and cells.null_count() == len(cells):
            return None
        return self.table.filter(pl.col("unseen_elements") != "")["id"].n_unique()

    def summary(self) -> dict:
        return {
            "candidates predicted": self.count,
            "with an element unseen in training": self.extrapolated,
            "excluded (in the model's training split)": self.excluded,
            "skipped": self.skipped,
            "model_version": self.model_version,
            "ensemble_size": self.ensemble_size,
        }


def training_ids(model_dir: Path) -> set[str]:
    """The ids the model in ``model_dir`` was trained on (its ``predictions.csv``, split ``train``)."""
    rows = pl.read_csv(Path(model_dir) / "predictions.csv", columns=["id", "split"], infer_schema=False)
    return set(rows.filter(pl.col("split") == "train")["id"].to_list())


def screen(
    model_dir: Path, clean: pl.DataFrame, unit: Callable[[str], str], log: Callable[[str], None] = print
) -> Screening:
    """Predict every row of ``clean`` (the canonical table's columns) not in the model's training
    split; ``unit(property)``: its unit ("" when it has none). A graph model's folder (``model.pt``)
    predicts from the parsed structures, a composition forest's (``model.skops``) from the table's
    formula and space group. ``log``: progress, a line per chunk of a graph model's candidates."""
    from matassets.training.random_forest import MODEL_FILE, load_forest

    model_dir = Path(model_dir)
    forest = (model_dir / MODEL_FILE).is_file()
    # a folder changed since training is refused (IntegrityError)
    model = load_forest(model_dir) if forest else load_model(model_dir)
    tasks, ensemble_size = ([model.config["task"]], 1) if forest else (model.tasks, model.ensemble_size)
    scales = {} if forest else model.sigma_scales
    version = manifest_digest(model_dir) or ""
    trained = training_ids(model_dir)
    candidates = clean.filter(~pl.col(schema.ID).is_in(list(trained)))
    log(f"{candidates.height} candidates ({clean.height - candidates.height} in the training split left out)")
    ids, formulas, mean, std, skipped = (
        _forest(model, candidates) if forest else _graph(model, candidates, log)
    )
    unseen = [domain.unseen(model.config, f) for f in formulas]
    frames = [
        pl.DataFrame(
            {
                "id": ids,
                "formula": formulas,
                "property": [task] * len(ids),
                "mean": mean[:, t].astype(float),
                "std": std[:, t].astype(float),
                "sigma": std[:, t] * scales[task] if task in scales else [None] * len(ids),
                "unit": [unit(task)] * len(ids),
                "ensemble_size": [ensemble_size] * len(ids),
                "unseen_elements": [None if u is None else ", ".join(u) for u in unseen],
                "model_version": [version] * len(ids),
            },
            schema=SCHEMA,
        )
        for t, task in enumerate(tasks)
    ]
    table = pl.concat(frames)
    return Screening(table, version, ensemble_size, clean.height - candidates.height, skipped)


def _graph(
    model, candidates: pl.DataFrame, log: Callable[[str], None]
) -> tuple[list, list, np.ndarray, np.ndarray, list[dict]]:
    """(ids, formulas, mean, std, skipped) of a graph model (``load_model``): the ensemble's mean
    and spread, in chunks, each logged; a structure it cannot judge is skipped with the reason."""
    import time

    start = time.perf_counter()
    ids, formulas, structures, skipped = [], [], [], []
    for row in candidates.select(
        schema.ID, schema.FORMULA, schema.STRUCTURE, schema.STRUCTURE_FORMAT
    ).iter_rows():
        try:
            structure = parse_structure(row[2], row[3])
            model.check_structure(row[0], structure)
        except (PredictInputError, ValueError) as exc:
            skipped.append({"id": row[0], "reason": str(exc)})
            continue
        ids.append(row[0])
        formulas.append(row[1])
        structures.append(structure)
    log(f"{len(ids)} structures read, {len(skipped)} skipped, in {time.perf_counter() - start:.0f} s")
    means, stds = [], []
    for first in range(0, len(ids), CHUNK):
        part = slice(first, first + CHUNK)
        mean, std = model.predict_structures(ids[part], structures[part], with_std=True)
        means.append(mean)
        stds.append(std)
        done = min(first + CHUNK, len(ids))
        log(f"predicted {done}/{len(ids)} candidates ({time.perf_counter() - start:.0f} s)")
    n_tasks = len(model.tasks)
    mean = np.concatenate(means) if means else np.zeros((0, n_tasks))
    std = np.concatenate(stds) if stds else np.zeros((0, n_tasks))
    return ids, formulas, mean, std, skipped


def _forest(model, candidates: pl.DataFrame) -> tuple[list, list, np.ndarray, np.ndarray, list[dict]]:
    """(ids, formulas, mean, std, skipped) of a composition forest (``load_forest``): from the
    table's formula (and space group, when its features use one: a candidate without gets spglib's,
    ``fill_spacegroups``; one spglib finds none for is skipped). One model: ``std`` 0, as for a
    single graph model (its trees' spread is not reported)."""
    from matassets.data.spacegroups import fill_spacegroups
    from matassets.training.property_forest import predict

    skipped = []
    if model.config["preset"]["spacegroup_features"]:
        candidates = fill_spacegroups(candidates)
        missing = candidates.filter(pl.col(schema.SPACEGROUP).is_null())
        reason = f"spglib finds no {schema.SPACEGROUP}; the forest's features include it"
        skipped = [{"id": i, "reason": reason} for i in missing[schema.ID].to_list()]
        candidates = candidates.filter(pl.col(schema.SPACEGROUP).is_not_null())
    mean = predict(model, candidates).reshape(-1, 1) if candidates.height else np.zeros((0, 1))
    return candidates[schema.ID].to_list(), candidates[schema.FORMULA].to_list(), mean, 0 * mean, skipped


def write(result: Screening, folder: Path, extra: dict) -> Path:
    """``predictions.csv``, ``predictions.parquet``, ``histogram.png`` and ``screening.json``
    (``result.summary()`` and ``extra``) written whole into a staging folder, which then replaces
    ``folder``: a failure leaves the previous predictions as they were."""
    import shutil
    import tempfile

    from matassets.io import current_umask, replace_dir, write_json
    from matassets.reports.plots import screening_histogram

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        result.table.write_csv(staging / "predictions.csv")
        result.table.write_parquet(staging / "predictions.parquet")
        per_property = result.table.partition_by("property", as_dict=True, maintain_order=True)
        screening_histogram(
            {key[0]: (part["mean"].to_numpy(), part["unit"][0]) for key, part in per_property.items()},
            staging / "histogram.png",
        )
        write_json(staging / "screening.json", {**result.summary(), **extra})
        staging.chmod(0o777 & ~current_umask())  # mkdtemp's folder is private; a model folder is not
        return replace_dir(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
