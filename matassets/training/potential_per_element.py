"""One MACE potential per element, as GAP and MTP are fit in mlearn (Zuo et al. 2020), beside the
one-for-all model of ``training.potential``.

Element X's model trains on X's frames only of the same ``train.xyz`` / ``val.xyz`` (each frame's
``config_type`` is its element: mlearn cells are elemental), with X's E0 only, the same preset and
MACE's own trainer, and is evaluated once, after training, on X's frames of ``val.xyz`` and the
official ``test.xyz``. The metrics have the one-for-all model's shape (``{split: {"all", X, ...}}``),
so both tables read alike.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from matassets.data.mlearn import read_extxyz
from matassets.levels import MacePreset
from matassets.training.mace_runner import MaceRun, MaceStopped, threads_for_children, train_mace
from matassets.training.potential_eval import Prediction, evaluate_potential, metrics_by_split_and_element

SPLITS = ("train", "val", "test")


def model_file(element: str) -> str:
    """Element X's model in the model folder."""
    return f"mace_{element}.model"


@dataclass
class PerElement:
    models: dict[str, Path]  # element -> its trained model file (in the work folder)
    epochs_run: dict[str, int]  # element -> epochs MACE ran (fewer than the schedule: early stop)
    metrics: dict[str, dict[str, dict[str, float]]]  # {split: {"all" | element: errors}}
    predictions: list[Prediction]
    seconds: float


def element_of(atoms, path: Path, index: int) -> str:
    """The element of an elemental cell (mlearn's ``config_type``); a clear error for other frames."""
    element = atoms.info.get("config_type")
    if element not in set(atoms.get_chemical_symbols()) or len(set(atoms.get_chemical_symbols())) != 1:
        raise ValueError(
            f"{path}: frame {index} ({atoms.get_chemical_formula()}, config_type {element!r}): one MACE "
            "per element needs elemental cells whose config_type is their element (mlearn's); "
            "train this data with per_element false"
        )
    return str(element)


def neighbour_pairs(path: Path, r_max: float) -> dict[str, float]:
    """Element -> the neighbour pairs within ``r_max`` expected over its cells of ``path`` (atoms² ×
    the cutoff sphere's volume / the cell's; all pairs of a cell without volume), what an element's
    epoch time grows with. At std (r_max 5 Å) Cu's cells give 911k, Ge's 267k (3.4×), and Cu's model
    took 2.5× Ge's wall time (43.8 against 17.7 min, one thread each), with 1.7× the atoms."""
    sphere = 4 / 3 * math.pi * r_max**3
    pairs: dict[str, float] = {}
    for i, atoms in enumerate(read_extxyz(path)):
        element, n = element_of(atoms, path, i), len(atoms)
        volume = atoms.cell.volume
        pairs[element] = pairs.get(element, 0.0) + (n * n * sphere / volume if volume > 0 else n * (n - 1))
    return pairs


def split_by_element(data_dir: Path, element: str, out: Path) -> dict[str, Path]:
    """``out/{train,val,test}.xyz``: ``element``'s frames of ``data_dir``'s files, as written."""
    from ase.io import write

    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for split in SPLITS:
        path = Path(data_dir) / f"{split}.xyz"
        frames = [a for i, a in enumerate(read_extxyz(path)) if element_of(a, path, i) == element]
        if split != "test" and not frames:
            raise ValueError(f"{path}: no {element} frame to train on")
        write(str(out / f"{split}.xyz"), frames, format="extxyz")
        files[split] = out / f"{split}.xyz"
    return files


def train_element(
    preset: MacePreset,
    data_dir: Path,
    element: str,
    e0: float,
    folder: Path,
    log: Callable[[str], None] = print,
    threads: int | None = None,
    stop: threading.Event | None = None,
) -> tuple[MaceRun, list[Prediction]]:
    """Train ``element``'s MACE on its frames of ``data_dir`` in ``folder``, with the preset's
    per-element schedule (``MacePreset.for_one_element``) and ``threads`` torch threads, and evaluate
    it once, on its validation and official test frames: (the run, its predictions). ``stop`` set
    ends its training (``MaceStopped``)."""
    preset = preset.for_one_element()
    files = split_by_element(data_dir, element, folder / "data")
    own_e0 = {element: e0}
    run = train_mace(
        preset, files["train"], files["val"], own_e0, folder / "run", log, threads=threads, stop=stop
    )
    evaluation = evaluate_potential(
        run.model,
        [files["val"], files["test"]],
        folder / "eval",
        own_e0,
        log,
        preset.eval_batch_size,
        preset.device,
        threads,
    )
    return run, evaluation.predictions


def train_per_element(
    preset: MacePreset,
    data_dir: Path,
    e0s: dict[str, float],
    work_dir: Path,
    log: Callable[[str], None] = print,
) -> PerElement:
    """Train and evaluate one MACE per element of ``data_dir/train.xyz``, as many at once as there
    are training threads (``threads_for_children``), sharing them: on 2 cores two elements at one
    thread each (a small model uses one thread better than two), one at a time with
    ``MATASSETS_THREADS=1``; the costliest first (:func:`neighbour_pairs`), so that two dense
    elements do not end up one after the other on the same thread. Each element's log lines start
    with ``[X]``, and a line with its test error when it ends. A failed element's error is raised;
    the elements training beside it are stopped and no element starts after it."""
    pairs = neighbour_pairs(Path(data_dir) / "train.xyz", preset.r_max)
    elements = sorted(pairs)
    order = sorted(elements, key=pairs.__getitem__, reverse=True)
    threads = threads_for_children()
    workers = min(len(elements), threads)
    start = time.perf_counter()
    log(f"per-element MACE: {', '.join(order)}, the most neighbour pairs within r_max first")

    failed = threading.Event()  # a failed element stops the queue and the trainings going on

    def one(element: str) -> tuple[MaceRun, list[Prediction]]:
        if failed.is_set():
            raise MaceStopped(f"per-element MACE: {element} not started, another element failed")
        log(f"per-element MACE: {element} ({threads // workers} thread(s), {workers} element(s) at once)")
        began = time.perf_counter()
        try:
            run, own = train_element(
                preset,
                data_dir,
                element,
                e0s[element],
                Path(work_dir) / element,
                lambda line: log(f"[{element}] {line}"),
                threads // workers,
                failed,
            )
        except MaceStopped:
            log(f"per-element MACE: {element} stopped, another element failed")
            raise
        except BaseException:
            failed.set()
            raise
        log(finished(element, run, own, e0s, time.perf_counter() - began))
        return run, own

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {element: pool.submit(one, element) for element in order}
    errors = [e for e in (f.exception() for f in futures.values()) if e is not None]
    if errors:  # the element that failed, not one it stopped
        raise next((e for e in errors if not isinstance(e, MaceStopped)), errors[0])
    runs = {element: futures[element].result() for element in elements}
    predictions = [p for _, own in runs.values() for p in own]
    return PerElement(
        models={element: run.model for element, (run, _) in runs.items()},
        epochs_run={element: run.epochs_run for element, (run, _) in runs.items()},
        metrics=metrics_by_split_and_element(predictions, e0s),
        predictions=predictions,
        seconds=time.perf_counter() - start,
    )


def finished(element: str, run: MaceRun, own: list[Prediction], e0s: dict[str, float], seconds: float) -> str:
    """The line an element's model ends with, as it ends (the others may run for an hour more)."""
    test = metrics_by_split_and_element(own, e0s).get("test", {}).get(element, {})
    errors = (
        f"test energy MAE {test['energy_mae_meV_per_atom']:.2f} meV/atom, forces "
        f"{test['force_mae_meV_per_A']:.0f} meV/Å on {test['n_configs']} test cells"
        if test.get("n_configs")
        else "no test cells"
    )
    return f"per-element MACE: {element} done, {run.epochs_run} epochs in {seconds / 60:.1f} min; {errors}"
