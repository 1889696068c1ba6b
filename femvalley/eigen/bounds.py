"""Rigorous lower bounds of the spectrum, for a shift that is certainly below it."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from femvalley.eigen.backends import factorizer, real_part, relative_residuals, shift_invert
from femvalley.kp import KPOperators
from femvalley.linalg import (
    limit_bundled_blas,
)

__all__ = ["gershgorin_lower_bound", "refined_lower_bound"]


def gershgorin_lower_bound(h: Any, m: Any) -> float:
    """Lower bound of the spectrum of ``h x = E m x`` from Gershgorin discs of the lumped pencil.

    For the finite-element pencils here a cheaper and tighter bound comes from the model
    (:meth:`KPOperators.spectrum_lower_bound_meV`); this one is for bare matrices.
    """
    # lambda_min(h, m) >= lambda_min(h) / lambda_max(m) if lambda_min(h) >= 0, else
    # lambda_min(h) / lambda_min(m); Gershgorin bounds for both.
    ha = abs(h)
    diag_h = np.real(h.diagonal())
    radius_h = np.asarray(ha.sum(axis=1)).ravel() - np.abs(diag_h)
    hmin = float((diag_h - radius_h).min())
    ma = abs(m)
    diag_m = np.real(m.diagonal())
    radius_m = np.asarray(ma.sum(axis=1)).ravel() - np.abs(diag_m)
    mmax = float((diag_m + radius_m).max())
    mmin = float((diag_m - radius_m).min())
    if hmin >= 0:
        return hmin / mmax
    if mmin <= 0:
        # Gershgorin gives no positive bound on m; use the smallest eigenvalue of m directly
        mmin = float(spla.eigsh(m, k=1, which="SA", return_eigenvectors=False)[0])
    return hmin / mmin


def refined_lower_bound(
    operators: KPOperators, h: Any, backend: str | None, bound: float
) -> float | None:
    """Tighter rigorous lower bound from the single-component (real) problem.

    ``backend``: the sparse factorisation to use, ``"cholmod"`` or ``"superlu"``
    (:func:`~femvalley.eigen.backends.sparse_factorization`); anything else gives ``None``.

    When the kinetic term acts as ``K (x) I_n``, ``H = (K + U) (x) I_n + C`` and by Weyl's
    inequality ``E_0(H) >= e_0(K + U) + min_r lambda_min(C(r))``. The scalar problem is real and
    ``n`` times smaller, so its lowest eigenvalue costs a small fraction of the full solve, while
    a shift close to ``E_0`` saves shift-invert iterations (measured here: a shift far below E0
    doubles the ARPACK iterations in 3-D). Returns ``None`` if it cannot help.
    """
    n = operators.n_components
    # "eigsh" is the plain-SciPy reference: it keeps the plain lower bound as its shift
    if n == 1 or not operators.kinetic_is_scalar or backend not in ("cholmod", "superlu"):
        return None
    ni = operators.interior.size
    if ni < 1000:  # tiny problems: not worth a second factorisation
        return None
    hs = h[:ni, :ni] - operators.constant[:ni, :ni]  # h: the Hamiltonian already bound
    if np.iscomplexobj(hs.data):
        if np.abs(hs.data.imag).max(initial=0.0) > 0:
            return None
        hs = real_part(hs)
    ms = operators.mass_scalar
    scalar_bound = bound - operators.constant_min_eig_meV
    sigma = scalar_bound - 1e-3 * max(1.0, abs(scalar_bound))
    factor = factorizer(backend)
    timings: dict[str, float] = {}
    with limit_bundled_blas():
        w, x = shift_invert(
            sp.csr_matrix(hs),
            ms,
            1,
            sigma,
            factor,
            v0=None,
            tol=1e-10,
            ncv=None,
            maxiter=None,
            timings=timings,
        )
    e0 = float(w[0])
    res = relative_residuals(hs, ms, w, x)
    if not res[0] < 1e-6:
        return None
    # the Ritz value is an upper bound of the discrete e0 only up to its residual: keep a margin
    e0 -= 10 * res[0] * max(1.0, abs(e0))
    refined = e0 + operators.constant_min_eig_meV
    # stay a little below the bound: it is attained for uniform C, where H - sigma M is singular
    margin = 0.05 * max(e0 - scalar_bound, 1e-2)
    return refined - margin if refined - margin > bound else None
