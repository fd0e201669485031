"""Every model family, declared once: one frozen row each.

A row says what the runbook calls the family (phase, algorithm, the command it replaces), which
assets it makes (one per property or one for all), which preset table of ``levels`` sizes it, which
knobs a tuning round may move, whether the one GNN trainer can train it data-parallel, what a run
asks of a cluster, and which torch module a saved ``config.json`` rebuilds. The CLI's runbook table
(``cli/run.py``), the tuning targets (``automation/tuning/targets.py``), the assets' groups, tags and
commands (``assets/``), the models of each registered data set (``dataset_models``), the jobs'
Kubernetes sizes (``jobs.py``) and the model registry (``models/registry.py``) are derived from
these rows.

Adding a family: a row here, a torch module under ``models/`` and its asset module under
``assets/`` (docs/architecture.md walks through one). Plain data: no dagster or torch import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from matassets import levels
from matassets.automation.tuning.knobs import E3NN_KNOBS, FOREST_KNOBS, GNN_KNOBS, MACE_KNOBS, Knob

if TYPE_CHECKING:
    from matassets.datasets.manifest import Manifest
    from matassets.datasets.properties import Property

PHASES: tuple[str, ...] = ("phase1", "phase2", "phase3", "phase4")
DATA_GROUP = "data"


@dataclass(frozen=True)
class Resources:
    """What one run asks of a Kubernetes cluster at the ``std`` level on the shipped data sets."""

    cpu: str
    memory: str
    gpus: int

    def k8s_config(self) -> dict:
        """The ``dagster-k8s/config`` tag value: memory requested and limited at the same value (a
        run that outgrows it is stopped rather than starving its neighbours), CPU requested only (a
        run may use idle cores), a GPU as an extended resource in the limits."""
        limits: dict[str, str] = {"memory": self.memory}
        if self.gpus:
            limits["nvidia.com/gpu"] = str(self.gpus)
        return {
            "container_config": {
                "resources": {"requests": {"cpu": self.cpu, "memory": self.memory}, "limits": limits}
            }
        }


DATA_RESOURCES = Resources("2", "8Gi", 0)  # parsing, validation and graph building
DEFAULT_RESOURCES = Resources("1", "4Gi", 0)  # reports, or a group not sized yet: the launcher's default


@dataclass(frozen=True)
class Family:
    """One model family of the runbook."""

    name: str
    phase: str
    algorithm: str  # the runbook's --algorithm
    asset: str  # the asset name; "{property}" in it makes one asset per property
    presets: Mapping[str, object]  # partition -> preset row (a table of matassets.levels)
    knobs: tuple[Knob, ...]  # what a tuning round may move
    runbook: str  # the runbook command it replaces; "" = not in the runbook (run only with --algorithm)
    resources: Resources
    properties: tuple[str, ...] = ()  # the properties of a per-property family
    prepares: tuple[str, ...] = ()  # non-model assets its command materializes with it
    data_parallel: bool = False  # trained by the one GNN trainer, so --nproc applies
    architecture: str = ""  # config.json's architecture family (models/registry.py); "" = no torch module
    module: str = ""  # "package.module:Class" of that torch module
    title: str = ""  # the model and its paper, for the UI's asset descriptions
    # a registered data set's model of each of its properties ("" = none): D/<this, filled in>; one
    # for the whole data set where it names no {property}
    dataset_asset: str = ""
    dataset_formats: tuple[str, ...] = ()  # the data-set formats it is offered for (() = every one)

    @property
    def per_property(self) -> bool:
        return "{property}" in self.asset

    def asset_name(self, prop: str | None = None) -> str:
        return self.asset.format(property=prop) if self.per_property else self.asset

    def asset_names(self) -> list[str]:
        return [self.asset_name(p) for p in self.properties] if self.per_property else [self.asset]

    @property
    def dataset_per_property(self) -> bool:
        return "{property}" in self.dataset_asset

    def dataset_asset_name(self, prop: str | None = None) -> str:
        return self.dataset_asset.format(property=prop)

    def offered_for(self, fmt: str) -> bool:
        """Whether a data set of format ``fmt`` (``datasets.manifest.FORMATS``) gets this model."""
        return bool(self.dataset_asset) and (not self.dataset_formats or fmt in self.dataset_formats)

    def command(self, partition: str, prop: str | None = None, dataset: str | None = None) -> str:
        """The ``matassets`` command that trains this family's asset at ``partition`` (of
        registered data set ``dataset``)."""
        level = level_flag(partition)
        algorithm = "" if self.phase == "phase1" else f" --algorithm {self.algorithm}"
        on = f" --dataset {dataset}" if dataset else ""
        return f"matassets run {self.phase}{on}{algorithm} {level}" + (f" --property {prop}" if prop else "")


def level_flag(partition: str) -> str:
    """The command-line option that selects ``partition``: ``--level L``, or ``--competition``."""
    return "--competition" if partition == "competition" else f"--level {partition}"


GNN_PHASE1 = Resources("4", "16Gi", 1)
E3NN = Resources("8", "32Gi", 1)

FAMILIES: tuple[Family, ...] = (
    Family(
        "cgcnn",
        "phase1",
        "cgcnn",
        "cgcnn_{property}",
        levels.CGCNN,
        GNN_KNOBS,
        "run_phase1.py --level L --property P",
        GNN_PHASE1,
        properties=levels.CGCNN_PROPERTIES,
        data_parallel=True,
        architecture="cgcnn",
        module="matassets.models.cgcnn:CGCNN",
        title="CGCNN (Xie & Grossman 2018)",
        dataset_asset="cgcnn_{property}",
    ),
    Family(  # the worked example of adding a family (docs/architecture.md); CGCNN's presets
        "schnet",
        "phase1",
        "schnet",
        "schnet_{property}",
        levels.CGCNN,
        GNN_KNOBS,
        "",
        GNN_PHASE1,
        properties=("formation_energy", "band_gap"),
        data_parallel=True,
        architecture="schnet",
        module="matassets.models.schnet:SchNet",
        title="SchNet (Schütt et al. 2018) with PyG's interaction blocks",
    ),
    Family(
        "e3nn_multitask",
        "phase2",
        "e3nn",
        "multitask_e3nn",
        levels.E3NN_MULTITASK,
        E3NN_KNOBS,
        "run_phase2.py --algorithm e3nn --level L",
        E3NN,
        data_parallel=True,
        architecture="e3nn",
        module="matassets.models.e3nn_multitask:E3nnMultitask",
    ),
    Family(
        "mace",
        "phase3",
        "mace",
        "mace_potential",
        levels.MACE,
        MACE_KNOBS,
        "run_phase3.py --algorithm mace --level L --prepare-mace-data",
        E3NN,
        prepares=("mace_training_data",),
        title="MACE (Batatia et al. 2022)",
        dataset_asset="mace_potential",  # on the frames' energies and forces, one per data set
        dataset_formats=("extxyz",),
    ),
    Family(
        "specialist",
        "phase3",
        "equivariant",
        "specialist_{property}",
        levels.SPECIALIST,
        E3NN_KNOBS,
        "run_phase3.py --algorithm equivariant --level L --property P",
        E3NN,
        properties=levels.SPECIALIST_PROPERTIES,
        data_parallel=True,
        architecture="e3nn",  # the multitask model's module with one head
        module="matassets.models.e3nn_multitask:E3nnMultitask",
        title="e3nn specialist (E(3)-equivariant, one head)",
        dataset_asset="specialist_{property}",  # trained from scratch: no multitask_e3nn per data set
    ),
    Family(
        "topognn",
        "phase4",
        "topognn",
        "topo_classifier_gnn",
        levels.TOPO_GNN,
        GNN_KNOBS,
        "init_topo_db.py; run_phase4.py --algorithm topognn --level L",
        GNN_PHASE1,
        prepares=("topo_db",),
        data_parallel=True,
        architecture="topognn",
        module="matassets.models.topognn:TopoGNN",
    ),
    Family(
        "random_forest",
        "phase4",
        "rf",
        "topo_classifier_rf",
        levels.TOPO_RF,
        FOREST_KNOBS,
        "init_topo_db.py; run_phase4.py --algorithm rf --level L",
        GNN_PHASE1,
        prepares=("topo_db",),
        title="random forest on Magpie composition (+ space group) features",
        dataset_asset="forest_{property}",
    ),
)


def family(name: str) -> Family:
    for row in FAMILIES:
        if row.name == name:
            return row
    raise KeyError(f"no model family {name!r}; known: {', '.join(f.name for f in FAMILIES)}")


def dataset_families(fmt: str | None = None) -> tuple[Family, ...]:
    """The families a registered data set (of format ``fmt``; None: any) gets a model of
    (``Family.dataset_asset``)."""
    return tuple(f for f in FAMILIES if (f.offered_for(fmt) if fmt else f.dataset_asset))


class DatasetModel(NamedTuple):
    """One model of a registered data set: its family, the property it predicts (None: a model of
    the whole data set, as the MACE potential) and its asset name under the data set's prefix."""

    family: Family
    prop: Property | None
    asset: str


def dataset_models(manifest: Manifest) -> list[DatasetModel]:
    """The models of registered data set ``manifest``, in the order its assets are defined: for each
    family offered for its format, one per property of the manifest where the family's data-set
    asset names a property, else one for the whole data set."""
    return [
        DatasetModel(f, p, f.dataset_asset_name(p.name if p else None))
        for f in dataset_families(manifest.format)
        for p in (manifest.properties if f.dataset_per_property else [None])
    ]


def family_of_asset(asset: str) -> Family | None:
    """The family whose asset (or per-property asset) is ``asset``."""
    for row in FAMILIES:
        if asset in row.asset_names():
            return row
    return None


def group_resources(group: str) -> Resources:
    """A job's size: the data group's, or the largest request of a phase's families."""
    if group == DATA_GROUP:
        return DATA_RESOURCES
    rows = [f.resources for f in FAMILIES if f.phase == group]
    if not rows:
        return DEFAULT_RESOURCES
    return max(rows, key=lambda r: (r.gpus, float(r.cpu), int(r.memory.removesuffix("Gi"))))
