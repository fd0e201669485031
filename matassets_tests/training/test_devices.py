"""Where a model trains (a preset's ``device``: auto, cpu or cuda), checked without a GPU.

Every family's forward pass and loss run with the model, a batch of real smoke graphs and the
targets on torch's ``meta`` device: a tensor made on the CPU inside the model or the objective
meets the others there and raises, as it would on a GPU. ``device=cuda`` on a machine without one
is refused before anything is written, and the run record names the device a run used."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from matassets.paths import Layout


@pytest.fixture(scope="module")
def smoke_store(smoke_root):
    from matassets.data.pipeline import current_graphs_path
    from matassets.graphs.store import GraphStore

    return GraphStore.load(current_graphs_path(Layout(smoke_root), "smoke"))


def architectures() -> dict[str, tuple[dict, int]]:
    """Each torch family's smoke architecture (CGCNN with every option on) and its outputs."""
    from matassets.families import family
    from matassets.levels import DATA, E3NN_MULTITASK
    from matassets.models.e3nn_multitask import architecture
    from matassets.training.graph_model import invariant_architecture

    data = DATA["smoke"]
    cgcnn = replace(family("cgcnn").presets["smoke"], angle_bins=4, angle_order=2, element_bias=True)
    return {
        "cgcnn": (invariant_architecture("cgcnn", cgcnn, data), 1),
        "schnet": (invariant_architecture("schnet", family("schnet").presets["smoke"], data), 1),
        "topognn": (invariant_architecture("topognn", family("topognn").presets["smoke"], data), 1),
        "e3nn": (architecture(E3NN_MULTITASK["smoke"], data.cutoff, data.max_neighbors, 3), 3),
    }


@pytest.mark.parametrize("name", ["cgcnn", "schnet", "topognn", "e3nn"])
def test_a_training_step_keeps_every_tensor_on_the_models_device(smoke_store, name):
    from matassets.models.registry import build_model
    from matassets.training.objectives import BinaryObjective, RegressionObjective

    arch, n_out = architectures()[name]
    rng = np.random.default_rng(0)
    index = np.arange(8)
    if name == "topognn":
        y = rng.integers(0, 2, (8, 1)).astype(np.float32)
        objective = BinaryObjective(["topo_label"])
    else:
        y = rng.normal(size=(8, n_out)).astype(np.float32)
        y[0, -1] = np.nan  # an unlabelled task: the mask path
        objective = RegressionObjective(["formation_energy", "band_gap", "K_VRH"][:n_out])
    objective.fit(y)
    torch.manual_seed(0)
    model, batch, target = build_model(arch), smoke_store.collate(index), torch.as_tensor(y)
    with torch.device("meta"):  # a tensor made without a device now lands off the model's device
        out = model(batch)
        loss = objective.loss_fn(out, target)
        loss.backward()
    assert out.shape == (8, n_out) and torch.isfinite(loss)
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_device_choices_resolve_here_and_cuda_is_refused_without_a_gpu():
    from matassets.training.distributed import device, device_type

    assert device_type("cpu") == "cpu" and device("cpu") == torch.device("cpu")
    assert device_type("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="choose auto, cpu or cuda"):
        device_type("gpu")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: device=cuda is not refused here")
    with pytest.raises(ValueError, match=r"device=cuda: torch .* sees no GPU on this machine"):
        device_type("cuda")


def test_a_cuda_run_without_a_gpu_is_refused_and_the_current_model_stays(smoke_root, phase1_smoke):
    from matassets.assets.phase1 import cgcnn_asset
    from matassets_tests.conftest import folder_state, materialize

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: device=cuda is not refused here")
    current = Layout(smoke_root).model_dir("cgcnn_formation_energy", "smoke")
    record = (current / "run_record.json").read_text()
    assert '"device": "cpu"' in record  # the device the fixture's run used (auto, here the CPU)
    before = folder_state(current.parent)
    run_config = {"ops": {"cgcnn_formation_energy": {"config": {"device": "cuda", "force": True}}}}
    result = materialize([cgcnn_asset("formation_energy")], smoke_root, run_config=run_config)
    assert not result.success
    message = str(result.get_step_failure_events()[0].step_failure_data.error.message)
    assert "device=cuda" in message and "sees no GPU" in message
    assert folder_state(current.parent) == before
