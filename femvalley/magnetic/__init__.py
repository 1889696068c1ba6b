"""Magnetic fields in the k.p model (first step: the orbital effect of a uniform field).

- :mod:`~femvalley.magnetic.field`: a uniform field and its vector potential in a chosen
  gauge (symmetric, or Landau for a field along a coordinate axis);
- :mod:`~femvalley.magnetic.orbital`: the minimal coupling ``k -> k + e A / hbar`` of the
  kinetic terms, assembled once per field direction and bound late to the field's
  magnitude: ``H(B) = H(0) + B L + B^2 Q``; with a g factor, the Zeeman term of a spin on
  every component pair joins ``L``; the Zeeman term of a position-dependent field (a
  micro-magnet) as a fixed term;
- :mod:`~femvalley.magnetic.spin`: the operators of a model with a spin on every component
  (no spin-orbit coupling yet), without assembling them again.

Units: T, nm, meV.
"""

from femvalley.magnetic.field import GAUGES, UniformField
from femvalley.magnetic.micromagnet import FieldMap, MicroMagnet
from femvalley.magnetic.orbital import (
    OrbitalFieldTerms,
    orbital_field_terms,
    valley_g_matrix,
    zeeman_field_term,
    zeeman_matrix_meV_per_T,
)
from femvalley.magnetic.qubit import (
    QubitPoint,
    SpinQubit,
    SpinValleyAnticrossing,
    spin_qubit,
    spin_qubit_from_operators,
)
from femvalley.magnetic.spin import with_spin
from femvalley.magnetic.spin_orbit import (
    DRESSELHAUS_SI_MEV_NM,
    SpinOrbitTerm,
    dresselhaus_term,
    valley_form_factor,
)
from femvalley.magnetic.sweep import QubitSweep, qubit_sweep

__all__ = [
    "FieldMap",
    "MicroMagnet",
    "QubitPoint",
    "QubitSweep",
    "SpinQubit",
    "SpinValleyAnticrossing",
    "spin_qubit",
    "spin_qubit_from_operators",
    "valley_form_factor",
    "valley_g_matrix",
    "DRESSELHAUS_SI_MEV_NM",
    "GAUGES",
    "OrbitalFieldTerms",
    "SpinOrbitTerm",
    "UniformField",
    "dresselhaus_term",
    "orbital_field_terms",
    "qubit_sweep",
    "with_spin",
    "zeeman_field_term",
    "zeeman_matrix_meV_per_T",
]
