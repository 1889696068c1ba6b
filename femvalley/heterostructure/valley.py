"""Intervalley coupling of the local 2k0 theory (PHYSICS.md section 7).

``Delta = A int e^{-2 i k0 z} U(z) f(z)^2 dz`` (refs/003 eq. 8, for a laterally uniform
potential and an in-plane normalised envelope), ``A = -0.26`` (ab initio Bloch functions);
the valley splitting is ``E_V = 2 |Delta|``. ``U`` is any potential of the vertical problem
(the heterostructure and the field); the local theory is not invariant under ``U -> U + U0``
(refs/002 eq. 38).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from femvalley.units import K0_PER_NM

__all__ = ["A_AB_INITIO", "local_valley_coupling_meV"]

#: single-coefficient 2k0 prefactor from ab initio Bloch functions (refs/003 eq. 8)
A_AB_INITIO = -0.26


def local_valley_coupling_meV(
    z_nm: ArrayLike,
    potential_meV: ArrayLike,
    envelope: ArrayLike,
    *,
    prefactor: float = A_AB_INITIO,
    k0_per_nm: float = K0_PER_NM,
) -> complex:
    """``Delta = A int e^{-2 i k0 z} U(z) f(z)^2 dz`` (meV), by the P1 product rule on the grid.

    Parameters
    ----------
    z_nm, potential_meV, envelope : array_like (n,)
        Grid, ``U`` and ``f`` at its nodes (``int f^2 dz = 1``).
    prefactor : float
        ``A``.
    k0_per_nm : float
        Valley wave number.
    """
    z = np.asarray(z_nm, dtype=float)
    u = np.asarray(potential_meV, dtype=float)
    f = np.asarray(envelope, dtype=float)
    if not (z.shape == u.shape == f.shape) or z.ndim != 1:
        raise ValueError(
            f"z_nm, potential_meV and envelope must be 1-D of one length: {z.shape}, "
            f"{u.shape}, {f.shape}"
        )
    # nodal (trapezoid) quadrature of the product on the grid
    w = np.zeros_like(z)
    h = np.diff(z)
    w[:-1] += h / 2
    w[1:] += h / 2
    return complex(prefactor * np.sum(w * np.exp(-2j * k0_per_nm * z) * u * f * f))
