"""Deep ensembles (training.ensemble): the one trainer trains the members into one model folder; the
folder, ``load_model`` and ``matassets predict`` give the members' mean and their spread; the
calibration numbers are what their definitions say.

Real smoke data, the real trainer: two-member CGCNN ensembles of two small epochs each.
"""

import dataclasses
import json
import shutil

import numpy as np
import polars as pl
import pytest
import torch

from matassets.data import schema
from matassets.data.parsing import parse_structure
from matassets.levels import CGCNN, DATA
from matassets.paths import Layout
from matassets.reports.benchmarks import calibration_cell
from matassets.training import ensemble
from matassets.training.graph_model import RunSpec, train_graph_model

NAME = "cgcnn_formation_energy"  # a real asset name, so `matassets predict --model` finds it


def spec(size: int, seed: int | None = None) -> RunSpec:
    from matassets.training.options import RunOptions

    data = DATA["smoke"]
    preset = dataclasses.replace(CGCNN["smoke"], epochs=2, hidden=32, ensemble_size=size)
    return RunSpec(
        asset=NAME,
        phase="phase1",
        algorithm="cgcnn",
        tasks=["formation_energy"],
        partition="smoke",
        preset=preset,
        data=data,
        command="test",
        options=RunOptions(seed=seed),
        architecture={
            "family": "cgcnn",
            "hidden": 32,
            "n_layers": 2,
            "cutoff": data.cutoff,
            "gaussian_step": data.gaussian_step,
        },
    )


def test_calibration_numbers_follow_their_definitions():
    rng = np.random.default_rng(0)
    std = rng.uniform(0.1, 2.0, 20_000)
    y = rng.normal(0.0, std)  # errors drawn with exactly the predicted spread: calibrated
    good = ensemble.calibration(y, np.zeros_like(y), std)
    assert good["miscalibration_area"] < 0.01
    assert good["within_1sigma"] == pytest.approx(0.683, abs=0.01)
    assert good["within_2sigma"] == pytest.approx(0.954, abs=0.01)
    overconfident = ensemble.calibration(y, np.zeros_like(y), std / 10)
    underconfident = ensemble.calibration(y, np.zeros_like(y), std * 10)
    assert 0.3 < overconfident["miscalibration_area"] <= 0.5
    assert 0.3 < underconfident["miscalibration_area"] <= 0.5
    assert overconfident["within_2sigma"] < 0.2 and underconfident["within_1sigma"] > 0.9
    no_spread = ensemble.calibration(y, np.zeros_like(y), np.zeros_like(y))  # identical members
    assert no_spread["miscalibration_area"] == pytest.approx(0.5, abs=0.01)
    assert no_spread["within_1sigma"] == no_spread["within_2sigma"] == 0.0
    with_gaps = ensemble.calibration(np.array([np.nan, 1.0]), np.zeros(2), np.ones(2))
    assert with_gaps["n"] == 1  # unlabelled rows are left out


def test_a_spread_three_times_too_small_is_scaled_by_three_on_validation():
    """The scale is fitted on validation and judged on test, whose 1σ coverage it restores."""
    rng = np.random.default_rng(1)
    std = {s: rng.uniform(0.1, 2.0, 20_000) for s in ("val", "test")}
    y = {s: rng.normal(0.0, 3 * std[s]) for s in ("val", "test")}  # errors 3× the spread
    zero = {s: np.zeros_like(y[s]) for s in y}
    cal = ensemble.calibrations(y, zero, std)
    assert cal["test"]["within_1sigma"] < 0.3
    assert cal["test_scaled"]["scale"] == pytest.approx(3.0, rel=0.02)
    assert cal["test_scaled"]["within_1sigma"] == pytest.approx(0.683, abs=0.01)
    assert cal["test_scaled"]["within_2sigma"] == pytest.approx(0.954, abs=0.01)
    identical = ensemble.calibrations(y, zero, {s: np.zeros_like(y[s]) for s in y})
    assert "test_scaled" not in identical  # no spread to scale
    # heavy tails (one error in ten 20× larger), as property errors have: 1σ still holds 68 %
    tails = {s: np.where(rng.random(y[s].size) < 0.1, 20 * y[s], y[s]) for s in y}
    heavy = ensemble.calibrations(tails, zero, std)["test_scaled"]
    assert heavy["within_1sigma"] == pytest.approx(0.683, abs=0.015)


def test_a_classifiers_size_curve_is_its_balanced_accuracy_member_by_member(tmp_path):
    """Synthetic probabilities: member 0 right on every crystal, member 1 sure and wrong on the
    first two; their mean flips only where member 1 outweighs member 0."""
    from matassets.reports.plots import size_curve_plot
    from matassets.training.objectives import BinaryObjective

    y = np.array([[0.0], [1.0], [0.0], [1.0]])
    each = np.array([[[0.3], [0.7], [0.2], [0.9]], [[1.0], [0.0], [0.1], [0.8]]])  # (members, n, tasks)
    curve = ensemble.size_curve(
        {"val": y, "test": y}, {"val": each, "test": each}, BinaryObjective(["t"]), [5.0, 7.5]
    )
    assert [c["train_seconds"] for c in curve] == [5.0, 12.5]
    # the mean of both: 0.65 and 0.35 on the first two crystals, both wrong
    assert [c["test"]["t"]["balanced_accuracy"] for c in curve] == [1.0, 0.5]
    path = size_curve_plot(curve, {"t": "t"}, tmp_path / "ensemble_by_size.png")
    assert path.stat().st_size > 10_000


def test_an_ensemble_of_no_members_is_refused_before_training():
    with pytest.raises(ValueError, match="at least one member"):
        dataclasses.replace(CGCNN["std"], ensemble_size=0)
    assert CGCNN["std"].ensemble_size == 1 and CGCNN["pro"].ensemble_size == 5


def cif_files(root, tmp_path, n: int = 4) -> tuple[list[str], list]:
    """``n`` real test-split crystals of the smoke data as CIF files, and the structures read back from
    them as ``matassets predict`` reads them (a CIF keeps 8 digits: a distance the file moves across
    a 1e-4 Å rounding step, ``graphs.neighbors``, would give the file another graph)."""
    from pymatgen.io.cif import CifWriter

    from matassets.data.pipeline import load_splits
    from matassets.inference.inputs import read_structure_file

    layout = Layout(root)
    test_ids = load_splits(layout, "smoke").ids("test")
    clean = pl.read_parquet(layout.structures("smoke"))
    rows = clean.filter(pl.col(schema.ID).is_in(test_ids)).head(n).to_dicts()
    files, structures = [], []
    for row in rows:
        structure = parse_structure(row[schema.STRUCTURE], row[schema.STRUCTURE_FORMAT])
        path = tmp_path / f"{row[schema.ID]}.cif"
        CifWriter(structure).write_file(path)
        files.append(str(path))
        structures.append(read_structure_file(path))
    return files, structures


@pytest.mark.slow
def test_an_ensemble_reports_its_members_mean_and_spread(smoke_copy, tmp_path, monkeypatch, capsys):
    from conftest import member_predictions

    from matassets.assets.metadata import ensemble_metadata
    from matassets.cli import main
    from matassets.inference.predict import load_model
    from matassets.training.model_folder import seal

    monkeypatch.setenv("MATASSETS_THREADS", "1")
    layout = Layout(smoke_copy)
    out = train_graph_model(layout, spec(2), log=lambda m: None)
    folder = layout.model_dir(NAME, "smoke")
    assert out.model_dir == folder and (folder / "member_1.pt").is_file()
    assert not (folder / "member_2.pt").exists()

    # the trained folder: metrics of the mean, the members' seeds, calibration in range
    saved = json.loads((folder / "metrics.json").read_text())
    assert saved["ensemble"]["size"] == 2 and saved["ensemble"]["seeds"] == [42, 43]
    for split in ("val", "test"):
        cal = saved["calibration"]["formation_energy"][split]
        assert cal["n"] > 0 and 0.0 <= cal["miscalibration_area"] <= 0.5
        assert 0.0 <= cal["within_1sigma"] <= cal["within_2sigma"] <= 1.0
        assert cal["mean_std"] > 0
    scaled = saved["calibration"]["formation_energy"]["test_scaled"]
    assert scaled["scale"] > 0 and scaled["n"] == saved["calibration"]["formation_energy"]["test"]["n"]
    rows = pl.read_csv(folder / "predictions.csv")
    assert (rows["formation_energy_std"] > 0).all()  # two seeds: every crystal has a spread
    assert (folder / "calibration.png").stat().st_size > 10_000
    # what each member bought: the mean of member 0 alone, then of both (= the folder's metrics)
    by_size = saved["ensemble"]["by_size"]
    assert [c["members"] for c in by_size] == [1, 2]
    for split in ("val", "test"):
        assert by_size[0][split] == saved["ensemble"]["members"][0][split]
        assert by_size[1][split] == saved[split]
    assert 0 < by_size[0]["train_seconds"] < by_size[1]["train_seconds"]
    assert (folder / "ensemble_by_size.png").stat().st_size > 10_000
    meta = ensemble_metadata(folder)
    assert meta["ensemble size"] == 2  # and each table with its plot:
    assert {"calibration numbers", "calibration", "ensemble by size numbers", "ensemble by size"} <= set(meta)
    assert "| 2 |" in meta["ensemble by size numbers"].value

    # load_model / predict on real structures: the mean and spread of the members' own predictions
    files, structures = cif_files(smoke_copy, tmp_path)
    model = load_model(folder)
    assert model.ensemble_size == 2
    mean, std = model.predict_structures(files, structures, with_std=True)
    each = member_predictions(model, files, structures)
    assert np.allclose(mean[:, 0], each.mean(axis=0), atol=1e-6)
    assert np.allclose(std[:, 0], each.std(axis=0), atol=1e-6)
    assert (std > 0).all() and not np.allclose(each[0], each[1])

    # predictions.csv is the same mean and spread the folder gives for those crystals
    ids = [f.rsplit("/", 1)[-1].removesuffix(".cif") for f in files]
    saved_rows = {r["id"]: r for r in rows.filter(pl.col("id").is_in(ids)).to_dicts()}
    for k, crystal in enumerate(ids):
        assert saved_rows[crystal]["formation_energy_pred"] == pytest.approx(mean[k, 0], abs=1e-4)
        assert saved_rows[crystal]["formation_energy_std"] == pytest.approx(std[k, 0], abs=1e-4)

    # `matassets predict`: the mean and <task>_std per file
    monkeypatch.setenv("MATASSETS_ROOT", str(smoke_copy))
    capsys.readouterr()
    assert main(["predict", "--model", NAME, "--level", "smoke", *files]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [p["file"] for p in printed] == files
    assert np.allclose([p["formation_energy"] for p in printed], mean[:, 0], atol=1e-6)
    assert np.allclose([p["formation_energy_std"] for p in printed], std[:, 0], atol=1e-6)
    sigma = std[:, 0] * scaled["scale"]  # the calibrated error bar: the spread × validation's scale
    assert np.allclose([p["formation_energy_sigma"] for p in printed], sigma, atol=1e-6)
    assert all(p["ensemble_size"] == 2 for p in printed)

    # identical members (member 1 = member 0's weights): zero spread, the mean is member 0 alone
    twin = tmp_path / "twin"
    shutil.copytree(folder, twin)
    shutil.copyfile(twin / "model.pt", twin / "member_1.pt")
    seal(twin)
    same = load_model(twin)
    mean_same, std_same = same.predict_structures(files, structures, with_std=True)
    assert (std_same == 0).all()
    assert np.allclose(mean_same[:, 0], each[0], atol=1e-6)


@pytest.mark.slow
def test_members_trained_with_one_seed_have_no_spread(smoke_copy, monkeypatch):
    """The trainer's members differ only by their seed: given one seed, they come out identical
    and the folder reports zero spread (``member_seed`` is the one place the seeds are chosen)."""
    monkeypatch.setenv("MATASSETS_THREADS", "1")
    monkeypatch.setattr(ensemble, "member_seed", lambda seed, k: seed)
    layout = Layout(smoke_copy)
    train_graph_model(layout, spec(2, seed=7), log=lambda m: None)
    folder = layout.model_dir(NAME, "smoke")
    assert json.loads((folder / "metrics.json").read_text())["ensemble"]["seeds"] == [7, 7]
    weights = [torch.load(folder / f, weights_only=True) for f in ("model.pt", "member_1.pt")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    rows = pl.read_csv(folder / "predictions.csv")
    assert (rows["formation_energy_std"] == 0).all()
    cal = json.loads((folder / "metrics.json").read_text())["calibration"]["formation_energy"]["test"]
    assert cal["within_1sigma"] == cal["within_2sigma"] == 0.0  # no spread covers no error


@pytest.mark.slow
def test_a_one_member_folder_is_todays_folder(smoke_copy, monkeypatch):
    monkeypatch.setenv("MATASSETS_THREADS", "1")
    layout = Layout(smoke_copy)
    train_graph_model(layout, spec(1), log=lambda m: None)
    folder = layout.model_dir(NAME, "smoke")
    assert not list(folder.glob("member_*")) and not (folder / "calibration.png").exists()
    saved = json.loads((folder / "metrics.json").read_text())
    assert "ensemble" not in saved and "calibration" not in saved
    assert "formation_energy_std" not in pl.read_csv(folder / "predictions.csv").columns
    from matassets.inference.predict import load_model

    assert load_model(folder).ensemble_size == 1


@pytest.mark.slow
def test_the_asset_shows_an_ensembles_calibration(smoke_copy, monkeypatch):
    """`--set ensemble_size=2` reaches the trainer through the asset's run config (generated from
    the preset), and the materialization shows the calibration table and plot."""
    from conftest import materialize

    from matassets.assets.phase1 import cgcnn_asset

    monkeypatch.setenv("MATASSETS_THREADS", "1")
    run_config = {"ops": {NAME: {"config": {"ensemble_size": 2, "epochs": 2, "hidden": 32}}}}
    result = materialize([cgcnn_asset("formation_energy")], smoke_copy, run_config=run_config)
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["ensemble size"].value == 2
    assert "miscalibration_area" in meta["calibration numbers"].value
    assert meta["calibration"].value.startswith("![calibration](data:image/png;base64,")
    folder = Layout(smoke_copy).model_dir(NAME, "smoke")
    record = json.loads((folder / "run_record.json").read_text())
    assert record["overrides"]["ensemble_size"] == 2 and "calibration.png" in record["plots"]

    # docs/benchmarks.md's model table shows the same test-split calibration
    metrics = json.loads((folder / "metrics.json").read_text())
    test, scaled = (metrics["calibration"]["formation_energy"][s] for s in ("test", "test_scaled"))
    assert calibration_cell(metrics, "formation_energy") == (
        f"area {test['miscalibration_area']:.3f}, within 1σ {test['within_1sigma']:.2f}, "
        f"2σ {test['within_2sigma']:.2f}; σ × {scaled['scale']:.2f}: "
        f"within 1σ {scaled['within_1sigma']:.2f}, 2σ {scaled['within_2sigma']:.2f}"
    )


@pytest.mark.slow
def test_an_ensemble_interrupted_in_a_later_member_resumes_to_the_same_members(smoke_copy, monkeypatch):
    """Killed while member 1 trains, the next run takes member 0 from its finished checkpoint and
    member 1 from its own, and ends with the members an uninterrupted run trains."""
    monkeypatch.setenv("MATASSETS_THREADS", "1")
    layout = Layout(smoke_copy)
    full = dataclasses.replace(spec(2), asset="ensemble_full")
    train_graph_model(layout, full, log=lambda m: None)
    calls = []

    def stop_in_member_1(epoch: int) -> bool:  # member 0 asks after epochs 1 and 2, member 1 after 1
        calls.append(epoch)
        return len(calls) == 3

    resumed = dataclasses.replace(spec(2), asset="ensemble_resumed")
    cut = train_graph_model(layout, resumed, log=lambda m: None, stop=stop_in_member_1)
    assert cut.fit.stop_reason == "epoch limit" and not cut.record  # member 0 finished, nothing written
    assert (layout.model_work_dir("ensemble_resumed", "smoke") / "member_1" / "checkpoint.pt").is_file()
    logs = []
    train_graph_model(layout, resumed, log=logs.append)
    assert any("resumed from" in line and "member_1" in line for line in logs)
    for name in ("model.pt", "member_1.pt"):
        a, b = (
            torch.load(layout.model_dir(s.asset, "smoke") / name, weights_only=True) for s in (full, resumed)
        )
        assert all(torch.equal(a[k], b[k]) for k in a), name
    rows = [pl.read_csv(layout.model_dir(s.asset, "smoke") / "predictions.csv") for s in (full, resumed)]
    assert rows[0].equals(rows[1])
    assert not (layout.model_work_dir("ensemble_resumed", "smoke") / "member_1" / "checkpoint.pt").exists()
