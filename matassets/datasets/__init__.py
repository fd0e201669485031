"""Data sets as first-class, named, versioned things (no Dagster here).

A data set has a manifest (``manifest.Manifest``): its properties with unit, task and plausible
range (``properties.Property``), source, licence, citation, input format, files and versions.
``registry`` adds, appends, lists, shows and removes them; the built-in ones (the embedded
Materials Project snapshot, the mlearn DFT data, the topological labels) ship their manifests in
``builtin/``, and ``builtin/properties.json`` is the one place the canonical properties are written.

    from matassets import datasets
    datasets.add("alloys", "my_cifs/", ["mixing_enthalpy:eV/atom"], licence="CC BY 4.0")
    datasets.append("alloys", "more_cifs/")
    datasets.get("alloys").properties
"""

from __future__ import annotations

from matassets.datasets.properties import Property, canonical, canonical_properties, parse_spec

_REGISTRY = (
    "DatasetError",
    "add",
    "append",
    "builtin_manifests",
    "dataset_dir",
    "datasets_dir",
    "get",
    "list_datasets",
    "load_table",
    "property_info",
    "remove",
    "verify",
)
__all__ = ["Property", "canonical", "canonical_properties", "parse_spec", *_REGISTRY]


def __getattr__(name: str):
    # the registry imports the data loaders, which import this package's properties: load it lazily
    if name in _REGISTRY:
        from matassets.datasets import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
