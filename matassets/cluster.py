"""What each asset group's run asks of a Kubernetes cluster (docs/deploy.md).

With the K8sRunLauncher (deploy/dagster/k8s.yaml) every run is one Kubernetes Job; the launcher reads
the run's `dagster-k8s/config` tag and merges it into that Job's pod. definitions.py puts the tag
below on each phase job, so a Phase 2 run lands on a node with a GPU and enough memory while a data
run does not hold a GPU. Off Kubernetes the tag is an inert run tag.

The numbers are requests for the `std` level on the datasets the project ships with; a team on
bigger data raises them here, in one place. A cluster without GPUs sets `gpu` to 0: the trainer
picks CUDA when torch sees one and the CPU otherwise (matassets/training/trainer.py).

Plain data: no dagster import, so the table can be read and tested without a code location.
"""

K8S_CONFIG_TAG = "dagster-k8s/config"

# group -> (cpu cores, memory, GPUs)
GROUP_RESOURCES: dict[str, tuple[str, str, int]] = {
    "data": ("2", "8Gi", 0),  # parsing, validation and graph building: CPU and memory only
    "phase1": ("4", "16Gi", 1),  # CGCNN property models
    "phase2": ("8", "32Gi", 1),  # E(3)-equivariant multitask model
    "phase3": ("8", "32Gi", 1),  # MACE potential and e3nn specialists
    "phase4": ("4", "16Gi", 1),  # topological features, random forest, TopoGNN
}
# any other group (reports, a new phase not sized yet): the launcher's default run size, no GPU
DEFAULT_RESOURCES: tuple[str, str, int] = ("1", "4Gi", 0)


def k8s_config(group: str) -> dict:
    """The `dagster-k8s/config` tag value for a run of `group`: container requests and limits.

    Memory is requested and limited at the same value (a training run that outgrows it is stopped
    by Kubernetes rather than starving its neighbours); CPU has a request only, so a run may use
    idle cores; a GPU is an extended resource and Kubernetes needs it in the limits.
    """
    cpu, memory, gpus = GROUP_RESOURCES.get(group, DEFAULT_RESOURCES)
    limits: dict[str, str] = {"memory": memory}
    if gpus:
        limits["nvidia.com/gpu"] = str(gpus)
    return {
        "container_config": {
            "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": limits},
        }
    }
