"""The vertical problem of a heterostructure: potential and effective-mass ground state.

``U_perp(z) = dEc X(z) - F z`` (meV), with ``dEc`` the conduction-band offset per unit Ge
fraction (:data:`femvalley.materials.SIGE_OFFSET_MEV_PER_X`, 160 meV at x = 0.3) and ``F`` the
vertical field (1 MV/m = 1 meV/nm; ``F > 0`` pushes the electron up, to larger z). The
ground state of ``-d/dz c_z d/dz f + U_perp f = E_z f`` (``c_z = hbar^2 / 2 m_l``) with
``f = 0`` at both ends is found on a fine uniform grid (finite differences). With an
in-plane oscillator of energy ``hbar omega`` the total ground energy is
``E_z + hbar omega`` (the in-plane ground state of a circular dot); the envelope is
``f(z)`` times the in-plane Gaussian.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from femvalley.heterostructure.profiles import Profile
from femvalley.heterostructure.valley import commensurate_length_nm
from femvalley.materials import SIGE_OFFSET_MEV_PER_X, get_material
from femvalley.units import inverse_mass_prefactor_meV_nm2

__all__ = ["VerticalState", "solve_vertical", "vertical_potential_meV"]


def vertical_potential_meV(
    profile: Profile,
    z_nm: NDArray[np.float64],
    *,
    field_MV_per_m: float,
    offset_meV_per_ge: float = SIGE_OFFSET_MEV_PER_X,
) -> NDArray[np.float64]:
    """``U_perp(z) = offset_meV_per_ge X(z) - F z`` (meV)."""
    z = np.asarray(z_nm, dtype=float)
    return np.asarray(offset_meV_per_ge * profile(z) - float(field_MV_per_m) * z, dtype=float)


@dataclass(frozen=True)
class VerticalState:
    """Ground state of the vertical problem.

    Attributes
    ----------
    z_nm : ndarray (n,)
        Uniform grid.
    envelope : ndarray (n,)
        ``f(z)`` with ``sum f^2 h = 1``, zero at both ends, ``f >= 0``.
    potential_meV : ndarray (n,)
        ``U_perp`` at the nodes.
    energy_meV : float
        ``E_z + hbar omega``.
    """

    z_nm: NDArray[np.float64]
    envelope: NDArray[np.float64]
    potential_meV: NDArray[np.float64]
    energy_meV: float

    @property
    def density(self) -> NDArray[np.float64]:
        """``f(z)^2`` (1/nm)."""
        return np.asarray(self.envelope**2)


def solve_vertical(
    profile: Profile,
    *,
    field_MV_per_m: float,
    hbar_omega_meV: float = 0.0,
    z_range_nm: tuple[float, float] | None = None,
    step_nm: float = 0.01,
    mass_m0: float | None = None,
    offset_meV_per_ge: float = SIGE_OFFSET_MEV_PER_X,
) -> VerticalState:
    """Vertical ground state of ``profile`` in a field, on a uniform grid of ``z_range_nm``.

    Three-point finite differences (the P1 stiffness with a lumped mass), error O(h^2): a
    symmetric tridiagonal eigenproblem solved for its lowest pair by LAPACK
    (:func:`scipy.linalg.eigh_tridiagonal`). The grid is continuous-z, far finer than a
    monolayer (0.136 nm), so that ``e^{-2 i k0 z}`` is resolved by the 2k0 integrals and
    a monolayer grid's aliasing (q and 8 pi / a - q sample alike) does not enter.
    ``z_range_nm`` defaults to a window of about 43.4 nm centred on z = 0 whose length is
    commensurate with ``2 k0`` and ``G`` (:func:`~.valley.commensurate_length_nm`), as the
    filtered 2k0 model needs. ``mass_m0`` defaults to the longitudinal mass of Si
    (:mod:`femvalley.materials`).
    """
    from scipy.linalg import eigh_tridiagonal

    if not math.isfinite(field_MV_per_m):
        raise ValueError(f"field_MV_per_m = {field_MV_per_m!r} must be finite")
    if not (math.isfinite(hbar_omega_meV) and hbar_omega_meV >= 0):
        raise ValueError(f"hbar_omega_meV = {hbar_omega_meV!r} must be finite and >= 0")
    if z_range_nm is None:
        half = commensurate_length_nm(40.0) / 2
        z_range_nm = (-half, half)
    lo, hi = (float(v) for v in z_range_nm)
    if not hi > lo:
        raise ValueError(f"z_range_nm = {z_range_nm!r} must be (low, high) with low < high")
    if not (math.isfinite(step_nm) and 0 < step_nm < (hi - lo) / 4):
        raise ValueError(f"step_nm = {step_nm!r} must be > 0 and below a quarter of the range")
    n = int(math.ceil((hi - lo) / step_nm))
    z = np.linspace(lo, hi, n + 1)
    h = (hi - lo) / n
    u = vertical_potential_meV(
        profile, z, field_MV_per_m=field_MV_per_m, offset_meV_per_ge=offset_meV_per_ge
    )
    m = get_material("Si").m_l if mass_m0 is None else float(mass_m0)
    c = inverse_mass_prefactor_meV_nm2(m)
    diag = 2 * c / h**2 + u[1:-1]
    off = np.full(n - 2, -c / h**2)
    w, v = eigh_tridiagonal(diag, off, select="i", select_range=(0, 0))
    f = np.zeros(n + 1)
    f[1:-1] = np.abs(v[:, 0]) / math.sqrt(h)  # sum f^2 h = 1
    return VerticalState(
        z_nm=z,
        envelope=f,
        potential_meV=u,
        energy_meV=float(w[0]) + float(hbar_omega_meV),
    )
