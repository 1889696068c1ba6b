"""Material parameters: one table, with sources.

Energies in meV, masses in units of the free-electron mass m0. Conduction-band offsets are
relative to strained silicon (the quantum well), so the well material has offset 0.

Sources
-------
- Masses of Si: m_t = 0.19, m_l = 0.916 (Sze & Ng, *Physics of Semiconductor Devices*, 3rd ed.,
  App. G); docs/references.md uses m_l = 0.92.
- Permittivities: Si 11.7 (Sze & Ng), Ge 16.2 (Sze & Ng), SiO2 3.9, HfO2 ~22, Al2O3 ~9
  (Robertson, Eur. Phys. J. Appl. Phys. 28, 265 (2004)).
- Si/Si(1-x)Ge(x) conduction-band offset: about 150-170 meV at x = 0.3 for strained Si on relaxed
  SiGe (Schaeffler, Semicond. Sci. Technol. 12, 1515 (1997)); modelled here as linear in x,
  160 meV at x = 0.3, i.e. 533 meV per unit Ge fraction.
- Si/SiO2 conduction-band offset about 3.1 eV (Robertson 2004); the reference model: 3 eV. Electron
  mass in SiO2 (only its tail under the barrier matters): 0.5 m0, the usual tunnelling mass
  of MOS gate-leakage models (0.4-0.5 m0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "MATERIALS",
    "SIGE_OFFSET_MEV_PER_X",
    "get_material",
    "Material",
    "silicon_germanium",
]


@dataclass(frozen=True, kw_only=True)
class Material:
    """Parameters of one material.

    Attributes
    ----------
    name : str
        Identifier used in tables and configuration files.
    eps_r : float
        Relative static permittivity.
    band_offset_meV : float
        Conduction-band edge relative to strained Si, in meV (``inf`` for a metal).
    m_t, m_l : float
        Transverse (x, y) and longitudinal (z) conduction-band masses of the z valleys, in m0.
        ``nan`` where the material carries no electron states in the model (oxides, metal).
    source : str
        Where the numbers come from.
    """

    name: str
    eps_r: float
    band_offset_meV: float
    m_t: float = math.nan
    m_l: float = math.nan
    source: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.eps_r) and self.eps_r > 0):
            raise ValueError(
                f"Material {self.name!r}: eps_r = {self.eps_r!r} must be finite and > 0"
            )
        for field in ("m_t", "m_l"):
            value = getattr(self, field)
            if not math.isnan(value) and not (math.isfinite(value) and value > 0):
                raise ValueError(
                    f"Material {self.name!r}: {field} = {value!r} must be > 0 (or nan if unused)"
                )

    @property
    def has_electrons(self) -> bool:
        """Whether the material has conduction-band masses (can be in the quantum region)."""
        return math.isfinite(self.m_t) and math.isfinite(self.m_l)


#: Conduction-band offset of relaxed Si(1-x)Ge(x) above strained Si, meV per unit Ge fraction.
SIGE_OFFSET_MEV_PER_X: float = 160.0 / 0.3

_SI_MT = 0.19
_SI_ML = 0.916


def silicon_germanium(x: float) -> Material:
    """Return relaxed Si(1-x)Ge(x) by linear interpolation (barrier material).

    Parameters
    ----------
    x : float
        Ge fraction, between 0 and 1 (the model is meant for x <= 0.5).
    """
    if not (0.0 <= x <= 1.0):
        raise ValueError(f"Ge fraction x = {x!r} must be in [0, 1]")
    return Material(
        name=f"Si{1 - x:.2g}Ge{x:.2g}",
        eps_r=11.7 + (16.2 - 11.7) * x,
        band_offset_meV=SIGE_OFFSET_MEV_PER_X * x,
        m_t=_SI_MT,
        m_l=_SI_ML,
        source="linear interpolation Si-Ge (Sze & Ng); CB offset Schaeffler 1997",
    )


MATERIALS: dict[str, Material] = {
    "Si": Material(
        name="Si", eps_r=11.7, band_offset_meV=0.0, m_t=_SI_MT, m_l=_SI_ML, source="Sze & Ng"
    ),
    "strained_Si": Material(
        name="strained_Si",
        eps_r=11.7,
        band_offset_meV=0.0,
        m_t=_SI_MT,
        m_l=_SI_ML,
        source="Sze & Ng; tensile strain lifts the in-plane valleys, z valleys kept",
    ),
    "SiGe": silicon_germanium(0.3),
    # masses: the electron tunnelling mass of SiO2 (0.4-0.5 m0 in MOS tunnelling models),
    # so the oxide can be part of a k.p mesh (the envelope's decay into the 3 eV barrier)
    "SiO2": Material(
        name="SiO2",
        eps_r=3.9,
        band_offset_meV=3000.0,
        m_t=0.5,
        m_l=0.5,
        source="Robertson 2004; tunnelling mass ~0.5 m0",
    ),
    "HfO2": Material(name="HfO2", eps_r=22.0, band_offset_meV=1500.0, source="Robertson 2004"),
    "Al2O3": Material(name="Al2O3", eps_r=9.0, band_offset_meV=2100.0, source="Robertson 2004"),
    "metal": Material(name="metal", eps_r=1.0, band_offset_meV=math.inf, source="gate electrode"),
}


def get_material(name: str) -> Material:
    """Look a material up by name, with a clear error listing the known names."""
    try:
        return MATERIALS[name]
    except KeyError:
        raise ValueError(
            f"material = {name!r} is unknown; known materials: {sorted(MATERIALS)}"
        ) from None
