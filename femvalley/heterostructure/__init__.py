"""Valley splitting from the heterostructure (PHYSICS.md section 7; refs/002, refs/003).

- :mod:`~femvalley.heterostructure.profiles`: Ge concentration profiles X(z), composable;
- :mod:`~femvalley.heterostructure.vertical`: the vertical potential
  ``U_perp(z) = dEc X(z) - F z`` and its effective-mass ground state on a monolayer grid;
- :mod:`~femvalley.heterostructure.valley`: the intervalley coupling of the local 2k0 theory.

Units: nm, meV, fields in MV/m (= meV/nm for an electron).
"""

from femvalley.heterostructure.profiles import (
    GeSpike,
    Profile,
    QuantumWell,
    UniformGe,
    WiggleWell,
)
from femvalley.heterostructure.valley import local_valley_coupling_meV
from femvalley.heterostructure.vertical import VerticalState, solve_vertical, vertical_potential_meV

__all__ = [
    "GeSpike",
    "Profile",
    "QuantumWell",
    "UniformGe",
    "VerticalState",
    "WiggleWell",
    "local_valley_coupling_meV",
    "solve_vertical",
    "vertical_potential_meV",
]
