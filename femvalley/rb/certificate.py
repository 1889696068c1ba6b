"""The certificate of reduced-basis solves: error bounds, state counts and the greedy build.

The lowest states of a detuning sweep live, to high accuracy, in the span of the lowest states
at a few detunings (*snapshots*). :func:`build_two_valley_basis` computes full solves at a few
sweep points (``k + guard`` states each), M-orthonormalises their span ``V`` (``m`` vectors)
and projects ``H0`` and every ``D_i`` once. A sweep point is then an ``m x m`` dense
Hermitian problem (Rayleigh-Ritz), and every result is **certified**: it is returned only
with an a posteriori bound of its error against the full finite-element problem.

The certificate (proofs in the docstring of :meth:`TwoValleyBasis.solve`)
----------------------------------------------------------------------
For the ``k`` lowest Ritz pairs ``(theta_i, x_i)``, ``X = V Y``, the residual block
``R = H X - M X Theta`` is measured in the ``M^-1`` norm, ``rho = ||M^-1/2 R||_2``.

1. *No state is missed*: a rigorous lower bound ``L`` of the (k+1)-th eigenvalue comes from
   every snapshot ``j`` by Weyl's inequality, ``lambda_{k+1}(s) >= lambda_{k+1}(s_j) +
   sum_i min(ds_i min D_i, ds_i max D_i)`` (a potential term's Rayleigh quotient lies between
   the extremes of its field). If ``gap = L - theta_k > rho``, the ``k`` Ritz values match the
   ``k`` lowest eigenvalues in order.
2. *Linear bound* (Kahan): ``0 <= theta_i - lambda_i <= rho``.
3. *Quadratic bound*: ``theta_i - lambda_i <= rho^2 / gap + (rho / gap)^2 (theta_k - c)`` with
   ``c = theta_1 - rho <= lambda_1``. Rayleigh-Ritz energies are accurate to second order in
   the subspace error, and this bound follows them (typically 1e-6 ueV where ``rho`` is
   0.1 ueV).

The reported bound is the smaller of 2 and 3; a point is certified when it is below the
tolerance (default 1 ueV) and condition 1 holds. :func:`build_two_valley_basis` adds snapshots
greedily at the worst uncertified point until every point is certified (or a snapshot limit
is reached: the caller then solves those points in full). The snapshots' own (k+1)-th
energies are taken from their full shift-invert solves minus their residual bound; like every
eigensolver here, the full solve is trusted not to skip a state below its shift.

Cost: building is a few full solves plus ``O(m)`` sparse products and mass-matrix solves; a
point costs a few dense ``n x m`` products (tens of ms for 70k unknowns), against seconds for
a full solve (``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from femvalley.eigen import EigenResult, factor_backend
from femvalley.kp import KPOperators
from femvalley.linalg import factorize, limit_bundled_blas, serial_blas
from femvalley.typing import SparseMatrix

__all__ = [
    "MassSolver",
    "ReducedSolution",
    "greedy",
    "hermitian_part",
    "orthonormal_span",
    "ritz_bound",
    "state_bounds",
    "weyl_bound",
]


class MassSolver:
    """``M^-1`` applied to condensed vectors, with one factorisation of the scalar mass matrix.

    ``M = I_n (x) M_1`` (component-major), so one real sparse factorisation of ``M_1`` serves
    every component and both the real and imaginary parts.
    """

    def __init__(self, operators: KPOperators, *, backend: str = "auto") -> None:
        self.n_components = operators.n_components
        self.ni = int(operators.interior.size)
        ms = sp.csc_matrix(operators.mass_scalar, dtype=np.float64)
        with limit_bundled_blas():
            self._solve = factorize(ms, backend=factor_backend(backend))

    def __call__(self, x: NDArray[Any]) -> NDArray[np.complex128]:
        """Return ``M^-1 x`` for ``x`` of shape (n_components * ni, c)."""
        x = np.asarray(x)
        n, ni = self.n_components, self.ni
        c = x.shape[1]
        xs = x.reshape(n, ni, c).transpose(1, 0, 2).reshape(ni, n * c)
        with limit_bundled_blas():
            re = self._solve(np.ascontiguousarray(xs.real))
            im = self._solve(np.ascontiguousarray(xs.imag))
        z = np.asarray(re) + 1j * np.asarray(im)
        return np.ascontiguousarray(z.reshape(ni, n, c).transpose(1, 0, 2).reshape(n * ni, c))


@dataclass(frozen=True, eq=False)
class ReducedSolution:
    """A reduced-basis solve at one point, with its certificate.

    Attributes
    ----------
    result : EigenResult
        Energies (Ritz values, meV), vectors and weights of the ``k`` lowest states.
    residual_meV : ndarray, shape (k,)
        ``||H x_i - theta_i M x_i||_{M^-1}`` of each Ritz pair (meV).
    error_bound_meV : float
        Bound of ``|theta_i - lambda_i|`` valid for every returned state (``inf`` when no
        state count could be guaranteed).
    gap_meV : float
        Lower bound of ``lambda_{k+1} - theta_k``.
    certified : bool
        ``error_bound_meV <= tolerance`` and no state can have been missed.
    coefficients : ndarray (m, k) or None
        The Ritz vectors in the reduced basis.
    state_bounds_meV : ndarray, shape (k,) or None
        A certified bound of ``theta_i - lambda_i`` (in ``[0, b_i]``) per state: the bound of
        the lowest ``n`` states computed from their own residual block, minimised over
        ``n > i`` (:func:`state_bounds`). Never larger than ``error_bound_meV``, and much
        smaller for the lowest states when the higher ones are poorly resolved.
    term_expectations_meV : dict of str to ndarray (k,)
        ``<x_i | D_t | x_i>`` of every named term: the Hellmann-Feynman derivative
        ``d theta_i / d s_t`` (meV per unit of the scale, e.g. meV/mV for the detuning).
    """

    result: EigenResult
    residual_meV: NDArray[np.float64]
    error_bound_meV: float
    gap_meV: float
    certified: bool
    coefficients: NDArray[Any] | None = None
    state_bounds_meV: NDArray[np.float64] | None = None
    term_expectations_meV: Mapping[str, NDArray[np.float64]] = field(default_factory=dict)

    @property
    def energies_meV(self) -> NDArray[np.float64]:
        """The certified energies (meV)."""
        return self.result.energies_meV


def orthonormal_span(
    m: SparseMatrix, vectors: NDArray[Any], rank_tol: float = 1e-12
) -> NDArray[np.complex128]:
    """M-orthonormal basis of the span of ``vectors`` (near-dependent directions dropped)."""
    w, u = np.linalg.eigh(hermitian_part(vectors.conj().T @ (m @ vectors)))
    keep = w > rank_tol * w.max()
    return np.ascontiguousarray(vectors @ (u[:, keep] / np.sqrt(w[keep])))


def hermitian_part(a: NDArray[Any]) -> NDArray[Any]:
    """Return ``(a + a^H) / 2``: a computed Hermitian matrix made exactly Hermitian."""
    return 0.5 * (a + a.conj().T)


def ritz_bound(
    theta: NDArray[np.float64], rho: float, lower: float, rounding: float = 0.0
) -> tuple[float, float]:
    """Return the certified bound of the k Ritz values (meV) and the gap ``lower - theta_k``.

    ``rho``: the M^-1 norm of the residual block; ``lower``: a lower bound of ``lambda_{k+1}``;
    ``rounding``: the floating-point allowance added. The bound is the smaller of Kahan's
    ``rho`` and the quadratic bound of :meth:`TwoValleyBasis.solve` (``inf`` when the count
    certificate ``gap > rho`` fails).
    """
    gap = lower - float(theta[-1])
    if not gap > rho:
        return float("inf"), float(gap)
    spread = float(theta[-1] - theta[0]) + rho  # theta_k - c, c = theta_1 - rho
    bound = min(rho, rho * rho / gap + (rho / gap) ** 2 * spread)
    return float(bound + rounding), float(gap)


def state_bounds(
    theta: NDArray[np.float64],
    gram: NDArray[Any],
    bound_meV: float,
    *,
    rounding: float = 0.0,
    allowance: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Certified bound of each Ritz value from the residual blocks of the lowest states.

    The bound of :meth:`TwoValleyBasis.solve` holds for the lowest ``n`` Ritz pairs alone, with
    their own residual block (``rho_n^2``, the largest eigenvalue of ``gram[:n, :n]``) and
    ``lambda_{n+1} >= theta_{n+1} - bound_meV`` (the pairing of all ``k`` states is already
    certified by ``bound_meV``). State ``i`` gets the smallest of these bounds over
    ``n > i``. When the highest states of a basis are resolved worst, this is much sharper for
    the lowest ones (their residuals are small and their gap to the next level is what it
    is). ``allowance`` (k,): rounding allowance per state added to ``rho_n^2``.

    Parameters
    ----------
    theta : ndarray (k,)
        Ritz values (meV), ascending.
    gram : ndarray (k, k)
        ``R^H M^-1 R`` of the residual block (meV^2).
    bound_meV : float
        The certified bound of all ``k`` states (``inf``: not certified).
    """
    k = int(theta.size)
    out = np.full(k, float(bound_meV))
    if not np.isfinite(bound_meV) or k == 0:
        return out
    extra = np.zeros(k) if allowance is None else np.asarray(allowance, dtype=float)
    best = float(bound_meV)
    for n in range(k - 1, 0, -1):
        rho2 = float(np.linalg.eigvalsh(hermitian_part(gram[:n, :n]))[-1]) + float(extra[:n].sum())
        rho = float(np.sqrt(max(rho2, 0.0)))
        b, _ = ritz_bound(theta[:n], rho, float(theta[n]) - float(bound_meV), rounding)
        best = min(best, b)
        out[n - 1] = best
    return out


def weyl_bound(
    anchors: Sequence[tuple[Mapping[str, float], float]],
    scales: Mapping[str, float],
    terms_range_meV: Mapping[str, tuple[float, float]],
) -> float:
    """Return the best lower bound of an eigenvalue at ``scales`` from lower bounds at other points.

    Weyl's inequality: moving ``s_i`` by ``ds_i`` moves every eigenvalue by at least
    ``sum_i min(ds_i min D_i, ds_i max D_i)`` (a potential term's Rayleigh quotient lies between
    the extremes of its field). ``-inf`` without anchors.
    """
    best = -np.inf
    for ref, e in anchors:
        shift = 0.0
        for name in set(scales) | set(ref):
            lo, hi = terms_range_meV[name]
            ds = float(scales.get(name, 0.0)) - float(ref.get(name, 0.0))
            shift += min(ds * lo, ds * hi)
        best = max(best, e + shift)
    return float(best)


def greedy(
    points: list[dict[str, float]],
    snaps: list[Any],
    *,
    add: Callable[[int], None],
    make: Callable[[], Any],
    first: Sequence[int],
    tolerance_meV: float,
    max_snapshots: int,
) -> tuple[Any, list[int]]:
    """Add snapshots (``add(i)``) at the worst uncertified point until all are certified.

    The ``first`` points are added unless a snapshot is already there (a resumed build
    continues exactly as an uninterrupted one); then, while points are uncertified and the
    limit allows, the worst (largest bound; among equal bounds, the point farthest from every
    snapshot) is added. Returns the last basis (``make()``) and the uncertified indices.
    """
    for i in dict.fromkeys(first):
        if len(snaps) < max_snapshots and all(s.scales != points[i] for s in snaps):
            add(i)
    while True:
        rb = make()
        with serial_blas():  # small dense problems: one BLAS thread (no spinning pools)
            errors = np.array([rb.solve(p, vectors=False).error_bound_meV for p in points])
        bad = [i for i, e in enumerate(errors) if not e <= tolerance_meV]
        if not bad or len(snaps) >= max_snapshots:
            return rb, bad
        dist = {i: _distance(points[i], [s.scales for s in snaps]) for i in bad}
        worst = max(bad, key=lambda i: (errors[i], dist[i]))
        if dist[worst] == 0.0:  # already a snapshot: more of them cannot help
            return rb, bad
        add(worst)


def _distance(point: Mapping[str, float], others: Sequence[Mapping[str, float]]) -> float:
    names = set(point).union(*others)
    return min(
        float(np.sqrt(sum((point.get(n, 0.0) - o.get(n, 0.0)) ** 2 for n in names))) for o in others
    )
