"""Two electrons: Coulomb integrals and configuration interaction (exchange J).

- :mod:`~femvalley.twoelectron.coulomb`: Coulomb integrals ``(ab|cd)`` of one-electron
  states on a uniform planar grid (FFT convolution with the bulk kernel, optionally averaged
  over the electrons' vertical densities);
- :mod:`~femvalley.twoelectron.ci`: configuration interaction over two-electron Slater
  determinants; levels with their spin, the exchange ``J = E(T0) - E(S)``.

Units: nm, meV.
"""

from femvalley.twoelectron.ci import TwoElectronSpectrum, two_electron_spectrum
from femvalley.twoelectron.coulomb import (
    COULOMB_MEV_NM,
    coulomb_kernel_meV,
    grid_coulomb_integrals,
)

__all__ = [
    "COULOMB_MEV_NM",
    "TwoElectronSpectrum",
    "coulomb_kernel_meV",
    "grid_coulomb_integrals",
    "two_electron_spectrum",
]
