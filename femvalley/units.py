"""Physical constants and the unit conventions of femvalley.

Internal units
--------------
femvalley works in a single, fixed set of units everywhere inside the package:

============================  =========  ==========================================
quantity                      unit       note
============================  =========  ==========================================
length                        nm         mesh coordinates, correlation lengths
energy                        meV        Hamiltonian, eigenvalues, band offsets
electrostatic potential       V          gate voltages, phi(r)
charge                        e          an electron has charge -1
valley splitting (public I/O) ueV        converted to meV at the boundary
============================  =========  ==========================================

These units keep the entries of the finite-element matrices between about 1e-3 and 1e3,
which matters for iterative eigensolvers with absolute tolerances.

Every public keyword or configuration field that carries a unit says so in its name,
for example ``mesh_size_nm``, ``mean_valley_splitting_ueV`` or ``detuning_mV``.
SI units appear only at input/output edges.

The electron potential energy of an electrostatic potential ``phi`` (in V) is
``-1000 * phi`` meV (:data:`MEV_PER_VOLT`).
"""

from __future__ import annotations

import math

__all__ = [
    "BOHR_MAGNETON_MEV_PER_T",
    "E_OVER_HBAR_PER_NM2_T",
    "HBAR2_OVER_2M0_MEV_NM2",
    "K0_FRACTION",
    "K0_PER_NM",
    "K0_PRIME_PER_NM",
    "MEV_PER_UEV",
    "MEV_PER_VOLT",
    "PLANCK_MEV_S",
    "SI_LATTICE_CONSTANT_NM",
    "SI_MONOLAYER_NM",
    "UEV_PER_MEV",
    "inverse_mass_prefactor_meV_nm2",
    "meV_to_ueV",
    "ueV_to_meV",
]

#: hbar^2 / (2 m0) in meV nm^2 (CODATA 2018: 0.0380998 eV nm^2).
HBAR2_OVER_2M0_MEV_NM2: float = 38.09982

#: e / hbar in nm^-2 T^-1 (CODATA 2018: 1.519267447e15 m^-2 T^-1): the wave-number shift
#: ``(e / hbar) A`` of a vector potential ``A`` in T nm.
E_OVER_HBAR_PER_NM2_T: float = 1.519267447e-3

#: Electron potential energy in meV per volt of electrostatic potential (charge -e).
MEV_PER_VOLT: float = -1000.0

#: Silicon cubic lattice constant in nm.
SI_LATTICE_CONSTANT_NM: float = 0.5431

#: Thickness of one (001) silicon monolayer in nm (a / 4).
SI_MONOLAYER_NM: float = SI_LATTICE_CONSTANT_NM / 4.0

#: Position of the conduction-band minimum along Delta, in units of 2 pi / a.
K0_FRACTION: float = 0.85

#: Valley wave number k0 = 0.85 * 2 pi / a in nm^-1 (about 9.83 nm^-1).
K0_PER_NM: float = K0_FRACTION * 2.0 * math.pi / SI_LATTICE_CONSTANT_NM

#: Distance k0' = 2 pi / a - k0 of the Z valleys from the X point (nm^-1, about 1.74): the
#: Bloch functions of the two-band k.p model sit at X, so couplings between femvalley's smooth
#: valley envelopes that the two-band model writes at X carry the phase exp(2 i k0' z).
K0_PRIME_PER_NM: float = 2.0 * math.pi / SI_LATTICE_CONSTANT_NM - K0_PER_NM

#: Bohr magneton in meV per tesla.
BOHR_MAGNETON_MEV_PER_T: float = 5.7883818060e-2

#: Planck constant h in meV s (CODATA 2018: 4.135667696e-15 eV s): 1 meV / h = 241.8 GHz.
PLANCK_MEV_S: float = 4.135667696e-12

#: Conversion factors between energy units used at I/O edges.
UEV_PER_MEV: float = 1000.0
MEV_PER_UEV: float = 1.0e-3


def ueV_to_meV(value_ueV: float) -> float:
    """Convert an energy from micro-electronvolt to meV."""
    return value_ueV * MEV_PER_UEV


def meV_to_ueV(value_meV: float) -> float:
    """Convert an energy from meV to micro-electronvolt."""
    return value_meV * UEV_PER_MEV


def inverse_mass_prefactor_meV_nm2(mass_m0: float) -> float:
    """Return ``hbar^2 / (2 m)`` in meV nm^2 for an effective mass in units of m0.

    Parameters
    ----------
    mass_m0 : float
        Effective mass in units of the free-electron mass; must be positive.

    Returns
    -------
    float
        The kinetic prefactor ``c = hbar^2 / (2 m)`` of ``k c k``.
    """
    if not (math.isfinite(mass_m0) and mass_m0 > 0.0):
        raise ValueError(f"mass_m0 = {mass_m0!r}: an effective mass must be finite and > 0")
    return HBAR2_OVER_2M0_MEV_NM2 / mass_m0
