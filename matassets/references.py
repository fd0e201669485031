"""Published reference numbers to show beside our metrics, with the data caveat that goes with them."""

from __future__ import annotations

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
    lines = ["| model | test MAE | source / caveat |", "|---|---|---|"]
    lines += [f"| {m} | {v} {u} | {s} |" for m, v, u, s in refs]
    return "\n".join(lines)
