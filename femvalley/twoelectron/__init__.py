"""Two electrons: Coulomb integrals and configuration interaction (exchange J).

- :mod:`~femvalley.twoelectron.coulomb`: Coulomb integrals ``(ab|cd)`` of one-electron
  states on a uniform planar grid (FFT convolution with the bulk kernel, optionally averaged
  over the electrons' vertical densities);
- :mod:`~femvalley.twoelectron.basis`: the lowest states of a study's planar model
  (``bo2d``, ``slice2d``) on its uniform grid, with the electrons' vertical separation;
- :mod:`~femvalley.twoelectron.ci`: configuration interaction over two-electron Slater
  determinants; levels with their spin, the exchange ``J = E(T0) - E(S)``.

Units: nm, meV.
"""

from femvalley.twoelectron.basis import PlaneStates, plane_states, vertical_separation
from femvalley.twoelectron.ci import TwoElectronSpectrum, two_electron_spectrum
from femvalley.twoelectron.coulomb import (
    COULOMB_MEV_NM,
    coulomb_kernel_meV,
    grid_coulomb_integrals,
)

__all__ = [
    "COULOMB_MEV_NM",
    "PlaneStates",
    "TwoElectronSpectrum",
    "coulomb_kernel_meV",
    "grid_coulomb_integrals",
    "plane_states",
    "two_electron_spectrum",
    "vertical_separation",
]
