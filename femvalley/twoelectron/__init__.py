"""Two electrons: Coulomb integrals and configuration interaction (exchange J).

- :mod:`~femvalley.twoelectron.basis`: the lowest one-electron states of a study system (any
  model) and where their densities live in 3-D; the states of a planar model on its uniform
  grid;
- :mod:`~femvalley.twoelectron.coulomb`: Coulomb integrals ``(ab|cd)`` of states on a uniform
  planar grid with the bulk kernel (FFT convolution, optionally averaged over the electrons'
  vertical densities);
- :mod:`~femvalley.twoelectron.screened`: Coulomb integrals with the interaction screened by
  the device (the gates grounded, the dielectrics included), from the device's factorised
  Poisson operator;
- :mod:`~femvalley.twoelectron.ci`: configuration interaction over two-electron Slater
  determinants; levels with their spin, the exchange ``J = E(T0) - E(S)``;
- :mod:`~femvalley.twoelectron.exchange`: all of it bound to a study system
  (:class:`TwoElectronSolver`), with double occupancies, valley parity, densities and the
  convergence of ``J`` in the basis size;
- :mod:`~femvalley.twoelectron.sweep`: the two-electron levels and J against detuning, stored
  (:mod:`femvalley.io.two_electron`) and tabulated;
- :mod:`~femvalley.twoelectron.scan`: J against a gate voltage for several models of one
  device.

Units: nm, meV.
"""

from femvalley.twoelectron.basis import (
    PlaneStates,
    SystemStates,
    density_nodes,
    plane_grid_states,
    plane_states,
    system_states,
    vertical_mass,
    vertical_separation,
)
from femvalley.twoelectron.ci import TwoElectronSpectrum, two_electron_spectrum
from femvalley.twoelectron.coulomb import (
    COULOMB_MEV_NM,
    coulomb_kernel_meV,
    grid_coulomb_integrals,
    pair_table,
)
from femvalley.twoelectron.exchange import (
    KERNELS,
    ChargeAnticrossing,
    ExchangeConvergence,
    TwoElectronPoint,
    TwoElectronSolver,
    pair_probability,
    reduced_density_matrix,
)
from femvalley.twoelectron.scan import EXCHANGE_SCAN_MODELS, ExchangeScan, exchange_scan
from femvalley.twoelectron.screened import (
    DensityNodes,
    ScreenedCoulomb,
    screened_coulomb_integrals,
)
from femvalley.twoelectron.sweep import TwoElectronSweep, two_electron_sweep

__all__ = [
    "COULOMB_MEV_NM",
    "ChargeAnticrossing",
    "EXCHANGE_SCAN_MODELS",
    "KERNELS",
    "DensityNodes",
    "ExchangeConvergence",
    "ExchangeScan",
    "PlaneStates",
    "ScreenedCoulomb",
    "SystemStates",
    "TwoElectronPoint",
    "TwoElectronSolver",
    "TwoElectronSpectrum",
    "TwoElectronSweep",
    "coulomb_kernel_meV",
    "density_nodes",
    "exchange_scan",
    "grid_coulomb_integrals",
    "pair_probability",
    "pair_table",
    "plane_grid_states",
    "plane_states",
    "reduced_density_matrix",
    "screened_coulomb_integrals",
    "system_states",
    "two_electron_spectrum",
    "two_electron_sweep",
    "vertical_mass",
    "vertical_separation",
]
