"""Deformation potentials and bulk acoustic phonons of silicon's Z valleys.

A strain ``eps`` shifts both Z valleys by ``Xi_d (eps_xx + eps_yy + eps_zz) + Xi_u eps_zz`` and
couples them through the shear ``2 Xi_s eps_xy``. The default values are those of the
two-band k.p model of silicon (experimental ``Xi_d``, ``Xi_u``; ab initio ``Xi_s``); the
phonons are bulk acoustic phonons with one longitudinal and two degenerate transverse
branches, with the density and the sound velocities of silicon.

Units: eV, kg/m^3, m/s.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

__all__ = ["SILICON_PHONONS", "PhononParameters"]


@dataclass(frozen=True, kw_only=True)
class PhononParameters:
    """Deformation potentials of the Z valleys and the acoustic phonons of the host.

    Attributes
    ----------
    xi_d_eV, xi_u_eV, xi_s_eV : float
        Hydrostatic, uniaxial and shear deformation potentials (eV).
    density_kg_m3 : float
        Mass density.
    v_l_m_s, v_t_m_s : float
        Longitudinal and transverse sound velocities.
    """

    xi_d_eV: float = 1.0
    xi_u_eV: float = 8.6
    xi_s_eV: float = 7.4
    density_kg_m3: float = 2329.0
    v_l_m_s: float = 9000.0
    v_t_m_s: float = 5400.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{f.name} = {value!r} must be a number")
            if not math.isfinite(value):
                raise ValueError(f"{f.name} = {value!r} must be finite")
            object.__setattr__(self, f.name, float(value))
        for name in ("density_kg_m3", "v_l_m_s", "v_t_m_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} = {getattr(self, name)!r} must be positive")

    def without_shear(self) -> PhononParameters:
        """Return the same parameters with ``Xi_s = 0`` (no phonon-induced valley mixing)."""
        return dataclasses.replace(self, xi_s_eV=0.0)


#: Silicon: Xi_d = 1.0 eV, Xi_u = 8.6 eV, Xi_s = 7.4 eV; 2329 kg/m^3, 9000 and 5400 m/s.
SILICON_PHONONS = PhononParameters()
