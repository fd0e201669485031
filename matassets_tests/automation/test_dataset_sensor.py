"""data/incoming/<data set>/ makes a new version of that data set and requests exactly its assets;
a conflicting id is refused (named in the log), and the embedded set's incoming sensor ignores the
data set's folder. Real ALIGNN sample POSCARs."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg

from matassets import datasets
from matassets.assets.resources import ProjectResource

SAMPLE = Path(__file__).parents[1] / "fixtures" / "jarvis_samples" / "sample_data"


def test_incoming_files_of_a_data_set_append_and_retrain_only_it(tmp_path: Path) -> None:
    from matassets.automation.sensors import dataset_incoming_sensor, incoming_data_sensor

    first = tmp_path / "first"
    first.mkdir()
    for name in ("POSCAR-JVASP-10", "POSCAR-JVASP-1996"):
        shutil.copy(SAMPLE / f"{name}.vasp", first)
    (first / "targets.csv").write_text("file,opt_gap\nPOSCAR-JVASP-10,0.0\nPOSCAR-JVASP-1996,3.851\n")
    datasets.add("jv", first, ["opt_gap:eV"], root=tmp_path)
    project = ProjectResource(root=str(tmp_path))
    context = dg.build_sensor_context(resources={"project": project})
    assert isinstance(dataset_incoming_sensor(context), dg.SkipReason)

    incoming = tmp_path / "data" / "incoming" / "jv"
    incoming.mkdir(parents=True)
    shutil.copy(SAMPLE / "POSCAR-JVASP-1372.vasp", incoming)
    (incoming / "targets.csv").write_text("file,opt_gap\nPOSCAR-JVASP-1372,1.681\n")
    # the embedded set's sensor does not take the data set's folder
    embedded_context = dg.build_sensor_context(resources={"project": project})
    assert isinstance(incoming_data_sensor(embedded_context), dg.SkipReason)

    (request,) = dataset_incoming_sensor(context)
    assert request.partition_key == "std" and request.run_key == "dataset-jv-v2"
    keys = {k.to_user_string() for k in request.asset_selection}
    assert keys == {
        "jv/raw_structures",
        "jv/structures",
        "jv/splits",
        "jv/crystal_graphs",
        "jv/cgcnn_opt_gap",
        "jv/forest_opt_gap",
        "jv/specialist_opt_gap",
    }
    manifest = datasets.get("jv", tmp_path)
    assert manifest.version == 2 and manifest.rows == 3
    assert isinstance(dataset_incoming_sensor(context), dg.SkipReason)  # unchanged files: nothing

    (incoming / "targets.csv").write_text("file,opt_gap\nPOSCAR-JVASP-1372,9.0\n")  # a conflict
    skip = dataset_incoming_sensor(context)
    assert isinstance(skip, dg.SkipReason) and "jv: refused" in skip.skip_message
    assert datasets.get("jv", tmp_path).version == 2
