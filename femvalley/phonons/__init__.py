"""Acoustic phonons: spin and valley relaxation by the deformation potentials.

- :mod:`~femvalley.phonons.parameters`: the deformation potentials of the conduction band's
  Z valleys (hydrostatic, uniaxial, shear) and the bulk acoustic phonons (density, sound
  velocities);
- :mod:`~femvalley.phonons.relaxation`: the rate ``Gamma_1`` of a transition between two
  states of a two-valley model with spin, from the full angular integral over the phonon
  directions (``"exact"``) or its dipole expansion (``"dipole"``).

Units: eV (deformation potentials), kg/m^3, m/s, K, meV, 1/s.
"""

from femvalley.phonons.parameters import SILICON_PHONONS, PhononParameters
from femvalley.phonons.relaxation import PhononCoupling, RelaxationRate

__all__ = ["SILICON_PHONONS", "PhononCoupling", "PhononParameters", "RelaxationRate"]
