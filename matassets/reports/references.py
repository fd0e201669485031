"""Published reference numbers to show beside our metrics, with the data caveat that goes with them."""

from __future__ import annotations

from matassets.reports.tables import markdown_table

# property -> list of (model, test MAE, unit, source and caveat)
PROPERTY_REFERENCES: dict[str, list[tuple[str, float, str, str]]] = {
    "formation_energy": [
        (
            "CGCNN",
            0.039,
            "eV/atom",
            "Xie & Grossman, PRL 120, 145301 (2018); ~28k MP training crystals (we have ~5k)",
        ),
        (
            "MEGNet",
            0.028,
            "eV/atom",
            "Chen et al., Chem. Mater. 31, 3564 (2019); MP-2018, ~60k training crystals",
        ),
    ],
    "band_gap": [
        ("CGCNN", 0.388, "eV", "Xie & Grossman (2018); ~16k MP training crystals"),
        (
            "MEGNet",
            0.33,
            "eV",
            "Chen et al. (2019); MP-2018 non-zero gaps only, not comparable to an all-crystal MAE",
        ),
    ],
}


def references_markdown(prop: str) -> str:
    refs = PROPERTY_REFERENCES.get(prop)
    if not refs:
        return "_no published reference for this property on comparable data_"
    rows = [[m, f"{v} {u}", s] for m, v, u, s in refs]
    return markdown_table(["model", "test MAE", "source / caveat"], rows)


# mlearn (Zuo et al., J. Phys. Chem. A 124, 731 (2020)): test-set MAEs on the official test cells,
# one potential per element, energy in meV/atom and forces in eV/Å (given to two decimals). The
# GAP and MTP values as reprinted by the ACEpotentials.jl authors (Witt et al., J. Chem. Phys. 159,
# 164101 (2023); github.com/ACEsuit/ACEpotentials.jl, examples/zuobench/error_table.jl); NNP, SNAP
# and qSNAP could not be checked against the paper offline and are left out rather than guessed.
MLEARN_REFERENCES: dict[str, dict[str, tuple[float, float]]] = {
    "GAP": {
        "Ni": (0.42, 0.02), "Cu": (0.46, 0.01), "Li": (0.49, 0.01),
        "Mo": (2.24, 0.09), "Si": (2.91, 0.07), "Ge": (2.06, 0.05),
    },
    "MTP": {
        "Ni": (0.48, 0.01), "Cu": (0.41, 0.01), "Li": (0.49, 0.01),
        "Mo": (2.83, 0.09), "Si": (2.21, 0.06), "Ge": (1.79, 0.05),
    },
}  # fmt: skip
MLEARN_SOURCE = (
    "Zuo et al., J. Phys. Chem. A 124, 731 (2020), one potential per element trained on all the "
    "non-test cells (ours: one model for six elements); GAP/MTP values as reprinted in "
    "ACEpotentials.jl (Witt et al., J. Chem. Phys. 159, 164101 (2023))"
)


def mlearn_references_markdown(ours: dict[str, tuple[float, float]] | None = None) -> str:
    """Per-element energy (meV/atom) and force (meV/Å) test MAEs of the published potentials,
    beside ``ours`` (element -> (energy, force) in the same units) when given."""
    models = list(MLEARN_REFERENCES)
    head = [f"{m} E / F" for m in models] + (["ours E / F"] if ours else [])
    rows = []
    for el in MLEARN_REFERENCES["GAP"]:
        cells = [
            f"{MLEARN_REFERENCES[m][el][0]:g} / {MLEARN_REFERENCES[m][el][1] * 1000:.0f}" for m in models
        ]
        if ours:
            cells.append(f"{ours[el][0]:.2f} / {ours[el][1]:.0f}" if el in ours else "–")
        rows.append([el, *cells])
    table = markdown_table(["element", *head], rows)
    return table + f"\n\nE in meV/atom, F in meV/Å. Source: {MLEARN_SOURCE}."
