"""Well-known materials with literature labels: spot checks for the database.

Each entry names the structure (space group) the literature means. The database stores these as a
separate label source (``literature``) and its ``curated_check`` view says, for each one, whether the
symmetry-indicator label of the Topological Materials Arsenal agrees. Disagreement is information,
not an error: Weyl semimetals such as TaAs and NbAs have their Weyl points away from high-symmetry
momenta, which symmetry indicators cannot see, so the Arsenal lists them as trivial.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE_NAME = "literature"
SOURCE_REFERENCE = "curated from the papers cited on each label (matassets/topo/curated.py)"

ZHANG_2009 = "Zhang et al., Nat. Phys. 5, 438 (2009)"


@dataclass(frozen=True)
class Curated:
    formula: str  # reduced formula, as pymatgen writes it
    spacegroup: int
    cls: str  # trivial / TI / TCI / semimetal
    reference: str
    note: str


CURATED: tuple[Curated, ...] = (
    Curated(
        "Bi2Se3",
        166,
        "TI",
        f"{ZHANG_2009}; Xia et al., Nat. Phys. 5, 398 (2009)",
        "strong 3D TI, single Dirac cone",
    ),
    Curated("Bi2Te3", 166, "TI", f"{ZHANG_2009}; Chen et al., Science 325, 178 (2009)", "strong 3D TI"),
    Curated("Sb2Te3", 166, "TI", ZHANG_2009, "strong 3D TI"),
    Curated(
        "TaAs",
        109,
        "semimetal",
        "Weng et al., Phys. Rev. X 5, 011029 (2015); Xu et al., Science 349, 613 (2015)",
        "Weyl semimetal; Weyl points at generic momenta, invisible to symmetry indicators",
    ),
    Curated(
        "NbAs",
        109,
        "semimetal",
        "Weng et al., Phys. Rev. X 5, 011029 (2015); Xu et al., Nat. Phys. 11, 748 (2015)",
        "Weyl semimetal (TaAs family)",
    ),
    Curated(
        "Cd3As2",
        110,
        "semimetal",
        "Wang et al., Phys. Rev. B 88, 125427 (2013); Liu et al., Nat. Mater. 13, 677 (2014)",
        "Dirac semimetal; I4_1cd structure of Wang et al. (later refined to I4_1/acd, SG 142)",
    ),
    Curated(
        "Na3Bi",
        194,
        "semimetal",
        "Wang et al., Phys. Rev. B 85, 195320 (2012); Liu et al., Science 343, 864 (2014)",
        "Dirac semimetal",
    ),
    Curated(
        "SnTe",
        225,
        "TCI",
        "Hsieh et al., Nat. Commun. 3, 982 (2012); Tanaka et al., Nat. Phys. 8, 800 (2012)",
        "mirror-symmetry protected TCI",
    ),
    Curated(
        "HgTe",
        216,
        "semimetal",
        "Bernevig, Hughes & Zhang, Science 314, 1757 (2006); Bruene et al., "
        "Phys. Rev. Lett. 106, 126803 (2011)",
        "zero-gap semimetal with inverted bands; a 3D TI under strain, QSH in quantum wells",
    ),
    Curated(
        "ZrTe5",
        63,
        "TI",
        "Weng, Dai & Fang, Phys. Rev. X 4, 011002 (2014)",
        "bulk near the strong/weak TI boundary; experiments disagree on which side",
    ),
    Curated(
        "WTe2",
        31,
        "semimetal",
        "Soluyanov et al., Nature 527, 495 (2015)",
        "type-II Weyl semimetal (Td phase, Pmn2_1)",
    ),
    Curated(
        "Si",
        227,
        "trivial",
        "Yu & Cardona, Fundamentals of Semiconductors (Springer)",
        "control: diamond-structure semiconductor",
    ),
    Curated(
        "GaAs",
        216,
        "trivial",
        "Yu & Cardona, Fundamentals of Semiconductors (Springer)",
        "control: zinc-blende semiconductor",
    ),
    Curated(
        "NaCl",
        225,
        "trivial",
        "Kittel, Introduction to Solid State Physics (Wiley)",
        "control: wide-gap ionic insulator",
    ),
    Curated(
        "MgO",
        225,
        "trivial",
        "Kittel, Introduction to Solid State Physics (Wiley)",
        "control: wide-gap ionic insulator",
    ),
)
