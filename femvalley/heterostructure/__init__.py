"""Valley splitting from the heterostructure (refs. 2, 3).

- :mod:`~femvalley.heterostructure.profiles`: Ge concentration profiles X(z), composable;
- :mod:`~femvalley.heterostructure.vertical`: the vertical potential
  ``U_perp(z) = dEc X(z) - F z`` and its effective-mass ground state on a fine grid;
- :mod:`~femvalley.heterostructure.valley`: the 2k0 theory: local (single coefficient or the
  C_n of ref. 2 Tab. II), its ambiguity R, the spectrally filtered model;
- :mod:`~femvalley.heterostructure.twoband`: the two-band k.p model on monolayers (1-D, 3-D);
- :mod:`~femvalley.heterostructure.alloy`: binomial alloy disorder, ensembles, statistics;
- :mod:`~femvalley.heterostructure.config`: PROFILE.toml;
  :mod:`~femvalley.heterostructure.report`: ``femvalley valley-splitting``;
  :mod:`~femvalley.heterostructure.bridge`: alloy valley maps for studies.

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
