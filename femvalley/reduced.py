"""Certified reduced-basis solves of ``H(s) = H0 + sum_i s_i D_i`` along a sweep.

The lowest states of a detuning sweep live, to high accuracy, in the span of the lowest states
at a few detunings (*snapshots*). :func:`build_reduced_basis` computes full solves at a few
sweep points (``k + guard`` states each), M-orthonormalises their span ``V`` (``m`` vectors)
and projects ``H0`` and every ``D_i`` once. A sweep point is then an ``m x m`` dense
Hermitian problem (Rayleigh-Ritz), and every result is **certified**: it is returned only
with an a posteriori bound of its error against the full finite-element problem.

The certificate (proofs in the docstring of :meth:`ReducedBasis.solve`)
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
tolerance (default 1 ueV) and condition 1 holds. :func:`build_reduced_basis` adds snapshots
greedily at the worst uncertified point until every point is certified (or a snapshot limit
is reached: the caller then solves those points in full). The snapshots' own (k+1)-th
energies are taken from their full shift-invert solves minus their residual bound; like every
eigensolver here, the full solve is trusted not to skip a state below its shift.

Cost: building is a few full solves plus ``O(m)`` sparse products and mass-matrix solves; a
point costs a few dense ``n x m`` products (tens of ms for 70k unknowns), against seconds for
a full solve (``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
from numpy.typing import NDArray

from femvalley.eigen import EigenResult, factor_backend, solve
from femvalley.kp import CouplingAssembler, KPOperators
from femvalley.linalg import component_weights, factorize, limit_bundled_blas, serial_blas

__all__ = [
    "MassSolver",
    "OrbitalSnapshot",
    "ReducedBasis",
    "ReducedSolution",
    "Snapshot",
    "ValleyReducedBasis",
    "build_reduced_basis",
    "build_valley_basis",
    "orbital_snapshot",
    "orthonormal_span",
    "ritz_bound",
    "state_bounds",
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
class Snapshot:
    """A full solve at one point of the sweep: ``k + guard`` eigenpairs."""

    scales: dict[str, float]
    energies_meV: NDArray[np.float64]
    vectors: NDArray[np.complex128]


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
    m: Any, vectors: NDArray[Any], rank_tol: float = 1e-12
) -> NDArray[np.complex128]:
    """M-orthonormal basis of the span of ``vectors`` (near-dependent directions dropped)."""
    w, u = np.linalg.eigh(_hermitian(vectors.conj().T @ (m @ vectors)))
    keep = w > rank_tol * w.max()
    return np.ascontiguousarray(vectors @ (u[:, keep] / np.sqrt(w[keep])))


def _hermitian(a: NDArray[Any]) -> NDArray[Any]:
    return 0.5 * (a + a.conj().T)


class ReducedBasis:
    """Projected operators on the span of snapshot states, with certified solves.

    Parameters
    ----------
    operators : KPOperators
        The assembled model ``H(s) = H0 + sum_i s_i D_i``, ``M``.
    snapshots : sequence of Snapshot
        Full solves with at least ``k + 1`` states each.
    k : int
        Number of states of every solve.
    tolerance_meV : float
        Largest certified error (meV); default 1 ueV.
    rank_tol : float
        Directions of the snapshot span with relative Gram eigenvalue below this are dropped.
    mass_solver : MassSolver, optional
        Reused between bases (built if not given).

    Attributes
    ----------
    vectors : ndarray (ndof, m)
        The M-orthonormal basis.
    build_s : float
        Wall time of the projection (the snapshots' full solves not included).
    """

    def __init__(
        self,
        operators: KPOperators,
        snapshots: Sequence[Snapshot],
        *,
        k: int,
        tolerance_meV: float = 1e-3,
        rank_tol: float = 1e-12,
        mass_solver: MassSolver | None = None,
        backend: str = "auto",
    ) -> None:
        if not snapshots:
            raise ValueError("snapshots is empty; a reduced basis needs at least one full solve")
        if not (isinstance(k, int) and k >= 1):
            raise ValueError(f"k = {k!r} must be an integer >= 1")
        for j, s in enumerate(snapshots):
            if s.energies_meV.size < k + 1:
                raise ValueError(
                    f"snapshot {j} has {s.energies_meV.size} states; the state-count "
                    f"certificate needs k + 1 = {k + 1}"
                )
            unknown = set(s.scales) - set(operators.terms)
            if unknown:
                raise ValueError(f"snapshot {j} has unknown terms {sorted(unknown)}")
        if not tolerance_meV > 0:
            raise ValueError(f"tolerance_meV = {tolerance_meV!r} must be > 0")
        t0 = time.perf_counter()
        self.operators = operators
        self.k = int(k)
        self.tolerance_meV = float(tolerance_meV)
        self.snapshots = tuple(snapshots)
        self.mass_solver = mass_solver or MassSolver(operators, backend=backend)
        m = operators.mass
        v = orthonormal_span(m, np.hstack([s.vectors for s in snapshots]), rank_tol)
        self.vectors = v
        self._h0v = np.ascontiguousarray(operators.h0 @ v)
        self._dv = {name: np.ascontiguousarray(d @ v) for name, d in operators.terms.items()}
        self._mv = np.ascontiguousarray(m @ v)
        self._zh0 = self.mass_solver(self._h0v)
        self._zd = {name: self.mass_solver(dv) for name, dv in self._dv.items()}
        self.h0 = _hermitian(v.conj().T @ self._h0v)
        self.terms = {name: _hermitian(v.conj().T @ dv) for name, dv in self._dv.items()}
        # rigorous lower bounds of lambda_{k+1} at the snapshots: Ritz value minus the
        # residual bound of that pair (the full solve's own accuracy)
        self._anchors: list[tuple[dict[str, float], float]] = []
        for s in snapshots:
            x = s.vectors[:, self.k : self.k + 1]
            e = s.energies_meV[self.k : self.k + 1]
            h = operators.hamiltonian(**s.scales)
            r = h @ x - (m @ x) * e
            rho = float(np.sqrt(max(np.real(np.vdot(r, self.mass_solver(r))), 0.0)))
            self._anchors.append((dict(s.scales), float(e[0]) - rho))
        self.build_s = time.perf_counter() - t0

    def __getstate__(self) -> dict[str, Any]:
        # sent to worker processes: the mass factorisation is not needed after construction
        # (and a CHOLMOD factor cannot be pickled)
        state = dict(self.__dict__)
        state["mass_solver"] = None
        return state

    @property
    def size(self) -> int:
        """Dimension ``m`` of the reduced space."""
        return int(self.vectors.shape[1])

    def count_bound_meV(self, scales: Mapping[str, float]) -> float:
        """Rigorous lower bound of the (k+1)-th eigenvalue at ``scales`` (meV)."""
        return _weyl_bound(self._anchors, scales, self.operators.terms_range_meV)

    def solve(self, scales: Mapping[str, float], *, vectors: bool = True) -> ReducedSolution:
        """Rayleigh-Ritz at ``scales``, with the certificate of the module docstring.

        Proof of the bounds. Write ``A = M^-1/2 H M^-1/2`` (eigenvalues ``lambda_i``), ``X``
        the k lowest Ritz vectors (orthonormal), ``Theta`` their Ritz values and
        ``R = A X - X Theta`` (``rho = ||R||``; ``R`` is orthogonal to the whole reduced space,
        so ``X^H R = 0``). Let ``P`` project on the k lowest eigenvectors and ``Q = I - P``.

        - Count: with ``L <= lambda_{k+1}`` and ``L - theta_k > rho``, Kahan's theorem gives k
          eigenvalues within ``rho`` of the Ritz values, all below ``lambda_{k+1}``: they are
          ``lambda_1..lambda_k``, matched in order, so ``|theta_i - lambda_i| <= rho``.
        - Davis-Kahan: ``Q A Q (QX) - (QX) Theta = Q R`` with the spectrum of ``QAQ`` on the
          range of ``Q`` at or above ``lambda_{k+1} >= L``, so ``||QX|| <= rho / gap``.
        - With ``B = A - c`` (``c <= lambda_1``, so ``B >= 0``): ``X^H B X = F + G``,
          ``F = X^H P B P X >= 0``, ``G = X^H Q B Q X = S (Theta - c) + (QX)^H R``,
          ``S = (QX)^H QX``. The eigenvalues of ``B`` on the range of ``P`` are those of the
          pencil ``(F, I - S)``, at least those of ``F``; the Ritz values are at most those of
          ``F`` plus ``||G||``. Hence ``theta_i - lambda_i <= ||G|| <= (rho/gap)^2
          (theta_k - c) + rho^2 / gap``; and ``theta_i >= lambda_i`` (min-max).
        """
        t0 = time.perf_counter()
        self.operators.check_scales(scales)
        k = self.k
        hr = self.h0.copy()
        for name, s in scales.items():
            if s != 0:
                hr = hr + float(s) * self.terms[name]
        theta, y = la.eigh(_hermitian(hr), subset_by_index=[0, k - 1])
        hx = self._h0v @ y
        zx = self._zh0 @ y
        for name, s in scales.items():
            if s != 0:
                hx += float(s) * (self._dv[name] @ y)
                zx += float(s) * (self._zd[name] @ y)
        mx = self._mv @ y
        x = self.vectors @ y
        r = hx - mx * theta
        zr = zx - x * theta  # M^-1 r
        gram = _hermitian(r.conj().T @ zr)
        residual = np.sqrt(np.maximum(np.real(np.diag(gram)), 0.0))
        rho = float(np.sqrt(max(float(np.linalg.eigvalsh(gram)[-1]), 0.0)))
        lower = self.count_bound_meV(scales)
        # floating point: the dense eigensolver and the projections are backward stable
        # to a few ulps of the largest entry of the projected matrix
        rounding = 64 * np.finfo(float).eps * float(np.max(np.abs(theta)))
        bound, gap = _ritz_bound(theta, rho, lower, rounding)
        certified = bool(bound <= self.tolerance_meV)
        states = state_bounds(theta, gram, bound, rounding=rounding)
        slopes = {
            name: np.real(np.einsum("ai,ab,bi->i", y.conj(), t, y))
            for name, t in self.terms.items()
        }
        denom = np.linalg.norm(hx, axis=0) + np.abs(theta) * np.linalg.norm(mx, axis=0)
        rel = np.linalg.norm(r, axis=0) / np.where(denom > 0, denom, 1.0)
        ops = self.operators
        result = EigenResult(
            energies_meV=np.asarray(theta, dtype=float),
            vectors=x,
            components=ops.expand(x) if vectors else None,
            weights=component_weights(ops.mass, x, ops.n_components),
            residuals=np.asarray(rel, dtype=float),
            backend="reduced",
            shift_meV=float("nan"),
            timings_s={"total": time.perf_counter() - t0, "full_solve": 0.0},
        )
        return ReducedSolution(
            result=result,
            residual_meV=np.asarray(residual, dtype=float),
            error_bound_meV=float(bound),
            gap_meV=float(gap),
            certified=certified,
            coefficients=y,
            state_bounds_meV=states,
            term_expectations_meV=slopes,
        )


def full_snapshot(
    operators: KPOperators,
    scales: Mapping[str, float],
    *,
    k: int,
    guard: int = 4,
    backend: str = "auto",
) -> Snapshot:
    """Full shift-invert solve of ``k + guard`` states at ``scales`` (:func:`~.eigen.solve`)."""
    res = solve(operators, k=k + guard, scales=dict(scales), backend=backend)  # type: ignore[arg-type]
    return Snapshot(
        scales={name: float(v) for name, v in scales.items()},
        energies_meV=np.asarray(res.energies_meV, dtype=float),
        vectors=np.ascontiguousarray(res.vectors, dtype=np.complex128),
    )


def build_reduced_basis(
    operators: KPOperators,
    points: Sequence[Mapping[str, float]],
    *,
    k: int,
    guard: int = 4,
    tolerance_meV: float = 1e-3,
    backend: str = "auto",
    initial: Sequence[int] | None = None,
    max_snapshots: int = 8,
    snapshots: Sequence[Snapshot] = (),
    on_snapshot: Callable[[Snapshot], None] | None = None,
) -> tuple[ReducedBasis, list[int]]:
    """Greedy reduced basis that certifies every point of a sweep.

    Parameters
    ----------
    operators : KPOperators
        The assembled model.
    points : sequence of mapping
        The sweep points (scales of the named terms, e.g. ``{"detuning": eps_mV}``).
    k, guard : int
        States per point; snapshots solve ``k + guard`` (at least ``k + 1``).
    tolerance_meV : float
        Certified accuracy (default 1 ueV).
    initial : sequence of int, optional
        Indices of the first snapshots (default: both ends of the sweep).
    max_snapshots : int
        Snapshot limit; points still uncertified then are returned for full solves.
    snapshots : sequence of Snapshot
        Snapshots already computed (resume); no point is solved twice.
    on_snapshot : callable, optional
        Called with every new snapshot (to checkpoint it).

    Returns
    -------
    basis : ReducedBasis
    uncertified : list of int
        Indices of the points the basis does not certify.
    """
    if not points:
        raise ValueError("points is empty")
    if not (isinstance(guard, int) and guard >= 1):
        raise ValueError(f"guard = {guard!r} must be an integer >= 1 (the count certificate)")
    if not (isinstance(max_snapshots, int) and max_snapshots >= 1):
        raise ValueError(f"max_snapshots = {max_snapshots!r} must be an integer >= 1")
    pts = [{name: float(v) for name, v in p.items()} for p in points]
    snaps = list(snapshots)
    mass = MassSolver(operators, backend=backend)

    def add(i: int) -> None:
        snap = full_snapshot(operators, pts[i], k=k, guard=guard, backend=backend)
        snaps.append(snap)
        if on_snapshot is not None:
            on_snapshot(snap)

    def make() -> ReducedBasis:
        return ReducedBasis(
            operators, snaps, k=k, tolerance_meV=tolerance_meV, mass_solver=mass, backend=backend
        )

    return _greedy(
        pts,
        snaps,
        add=add,
        make=make,
        first=[0, len(pts) - 1] if initial is None else list(initial),
        tolerance_meV=tolerance_meV,
        max_snapshots=max_snapshots,
    )


def _ritz_bound(
    theta: NDArray[np.float64], rho: float, lower: float, rounding: float
) -> tuple[float, float]:
    """Certified bound of the k Ritz values, and the gap ``lower - theta_k``.

    ``rho``: the M^-1 norm of the residual block; ``lower``: a lower bound of ``lambda_{k+1}``;
    ``rounding``: the floating-point allowance added. The bound is the smaller of Kahan's
    ``rho`` and the quadratic bound of :meth:`ReducedBasis.solve` (``inf`` when the count
    certificate ``gap > rho`` fails).
    """
    gap = lower - float(theta[-1])
    if not gap > rho:
        return float("inf"), float(gap)
    spread = float(theta[-1] - theta[0]) + rho  # theta_k - c, c = theta_1 - rho
    bound = min(rho, rho * rho / gap + (rho / gap) ** 2 * spread)
    return float(bound + rounding), float(gap)


def ritz_bound(
    theta: NDArray[np.float64], rho: float, lower: float, rounding: float = 0.0
) -> tuple[float, float]:
    """Certified bound of ``k`` Ritz values and the gap ``lower - theta_k`` (meV).

    ``rho``: the ``M^-1`` norm of their residual block; ``lower``: a lower bound of
    ``lambda_{k+1}``. See :meth:`ReducedBasis.solve` for the proof.
    """
    return _ritz_bound(theta, rho, lower, rounding)


def state_bounds(
    theta: NDArray[np.float64],
    gram: NDArray[Any],
    bound_meV: float,
    *,
    rounding: float = 0.0,
    allowance: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Certified bound of each Ritz value from the residual blocks of the lowest states.

    The bound of :meth:`ReducedBasis.solve` holds for the lowest ``n`` Ritz pairs alone, with
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
        rho2 = float(np.linalg.eigvalsh(_hermitian(gram[:n, :n]))[-1]) + float(extra[:n].sum())
        rho = float(np.sqrt(max(rho2, 0.0)))
        b, _ = _ritz_bound(theta[:n], rho, float(theta[n]) - float(bound_meV), rounding)
        best = min(best, b)
        out[n - 1] = best
    return out


def _weyl_bound(
    anchors: Sequence[tuple[Mapping[str, float], float]],
    scales: Mapping[str, float],
    terms_range_meV: Mapping[str, tuple[float, float]],
) -> float:
    """Best lower bound of an eigenvalue at ``scales`` from lower bounds at other points.

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


def _greedy(
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


# -- reduced basis from single-valley orbitals -----------------------------------------------
@dataclass(frozen=True, eq=False)
class OrbitalSnapshot:
    """A real single-valley solve at one sweep point: the lowest orbitals of ``H_sv(s)``.

    ``H_sv(s) = kinetic + potential + sum_i s_i D_i`` on one valley (no valley coupling);
    ``vectors`` (ni, c) are M-orthonormal, ``residual_meV`` bounds the error of the energy
    used as the state-count anchor.
    """

    scales: dict[str, float]
    energies_meV: NDArray[np.float64]
    vectors: NDArray[np.float64]
    residual_meV: NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class _ScalarParts:
    """Seed-independent pieces of a valley basis (one valley, real)."""

    phi: NDArray[np.float64]  # (ni, m), M-orthonormal
    h: NDArray[np.float64]  # Phi^T (K + U) Phi
    terms: dict[str, NDArray[np.float64]]  # Phi^T D_i Phi
    w: NDArray[np.float64]  # (ni, (n_terms + 2) m): [(K+U) Phi, D_i Phi..., M Phi]
    z: NDArray[np.float64]  # M^-1 w
    gram: NDArray[np.float64]  # w^T z
    wnorm: NDArray[np.float64]  # column 2-norms of w and z (rounding allowance)
    znorm: NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class _CouplingParts:
    """Seed-dependent pieces: the projected valley coupling and its residual Gram blocks."""

    delta_meV: NDArray[np.complex128]  # at the nodes of the coupling assembler
    b: NDArray[np.complex128]  # Phi^T B(Delta) Phi (complex symmetric)
    gram: NDArray[np.complex128]  # full Gram of [w, B Phi] (Hermitian)
    wnorm: NDArray[np.float64]
    znorm: NDArray[np.float64]
    min_eig_meV: float  # lower bound of the local eigenvalues of C(r) = -max |Delta|


class ValleyReducedBasis:
    """Certified reduced basis of the two-valley problem from real single-valley orbitals.

    The valley coupling is small next to the orbital spacing, so the low two-valley states lie
    close to ``span(Phi) (x) C^2``, where ``Phi`` are the lowest orbitals of the single-valley
    problem (real, much cheaper than the complex two-valley solve) at a few detunings. The
    reduced Hamiltonian is ``[[h + s d, b], [conj(b), h + s d]]`` with ``b = Phi^T B(Delta)
    Phi``; only ``b`` depends on the valley map, so a new disorder seed is
    :meth:`with_valley_coupling` (one sparse product, one mass solve, a few dense products),
    and each sweep point is a ``2m x 2m`` Hermitian problem.

    Every point is certified as in :class:`ReducedBasis` (residual in the ``M^-1`` norm,
    Kahan and quadratic Rayleigh-Ritz bounds), with two differences:

    - the residual norm comes from Gram matrices of ``[H_sv Phi, D_i Phi, M Phi, B Phi]``,
      so a point costs ``O(m^2 k)`` instead of ``O(n m k)``; the rounding error of that
      evaluation is bounded and added (it is far below the tolerance through the quadratic
      bound);
    - the state count uses Weyl's inequality twice: ``lambda_{k+1}(H) >= mu_j(H_sv) +
      min_r lambda_min(C(r))`` with ``j = ceil((k+1)/2)`` (the single-valley spectrum is
      doubled by the two valleys), and ``mu_j`` moves with the detuning by at most the
      extremes of the detuning field.

    Parameters
    ----------
    operators : KPOperators
        A two-valley model (scalar kinetic and potential terms; any valley map, replaced by
        ``delta_meV``).
    snapshots : sequence of OrbitalSnapshot
    delta_meV : ndarray (nnodes,)
        Valley coupling at the nodes of ``coupling`` (by default every DOF of the basis,
        ``operators.basis.doflocs``; the vertices for P1).
    k : int
        Two-valley states per point.
    tolerance_meV : float
        Largest certified error (default 1 ueV).
    """

    def __init__(
        self,
        operators: KPOperators,
        snapshots: Sequence[OrbitalSnapshot],
        *,
        delta_meV: NDArray[Any],
        k: int,
        tolerance_meV: float = 1e-3,
        rank_tol: float = 1e-12,
        backend: str = "auto",
        coupling: CouplingAssembler | None = None,
        scalar: _ScalarSystem | None = None,
    ) -> None:
        if not snapshots:
            raise ValueError("snapshots is empty; a reduced basis needs at least one solve")
        if not (isinstance(k, int) and k >= 1):
            raise ValueError(f"k = {k!r} must be an integer >= 1")
        if not tolerance_meV > 0:
            raise ValueError(f"tolerance_meV = {tolerance_meV!r} must be > 0")
        j = (k + 2) // 2  # ceil((k + 1) / 2)
        for i, s in enumerate(snapshots):
            if s.energies_meV.size < j:
                raise ValueError(
                    f"snapshot {i} has {s.energies_meV.size} orbitals; the state-count "
                    f"certificate of k = {k} needs ceil((k + 1) / 2) = {j}"
                )
        t0 = time.perf_counter()
        self.operators = operators
        self.k = int(k)
        self.tolerance_meV = float(tolerance_meV)
        self.snapshots = tuple(snapshots)
        self.scalar = scalar or _ScalarSystem(operators, backend=backend)
        self.coupling = coupling or CouplingAssembler(operators.basis, operators.interior)
        sc = self.scalar
        phi = np.real(orthonormal_span(sc.m1, np.hstack([s.vectors for s in snapshots]), rank_tol))
        w = np.hstack([sc.h1 @ phi, *[d @ phi for d in sc.terms.values()], sc.m1 @ phi])
        z = sc.mass_solve(w)
        m = phi.shape[1]
        h = _hermitian(phi.T @ w[:, :m])
        terms = {
            name: _hermitian(phi.T @ w[:, (i + 1) * m : (i + 2) * m])
            for i, name in enumerate(sc.terms)
        }
        self.parts = _ScalarParts(
            phi=np.ascontiguousarray(phi),
            h=h,
            terms=terms,
            w=w,
            z=z,
            gram=_hermitian(w.T @ z),
            wnorm=np.linalg.norm(w, axis=0),
            znorm=np.linalg.norm(z, axis=0),
        )
        self._anchors = [
            (dict(s.scales), float(s.energies_meV[j - 1] - s.residual_meV[j - 1]))
            for s in snapshots
        ]
        self.couple = self._coupling_parts(np.asarray(delta_meV, dtype=np.complex128))
        self.build_s = time.perf_counter() - t0

    # -- seeds -------------------------------------------------------------------------------
    def _coupling_parts(self, delta: NDArray[np.complex128]) -> _CouplingParts:
        p = self.parts
        bmat = self.coupling.matrix(delta)
        wb = np.asarray(bmat @ p.phi)  # (ni, m) complex
        zb = self.scalar.mass_solve(wb)
        g_rb = p.z.T @ wb  # W_r^T M^-1 W_b
        g_bb = _hermitian(wb.conj().T @ zb)
        gram = np.block([[p.gram.astype(np.complex128), g_rb], [g_rb.conj().T, g_bb]])
        return _CouplingParts(
            delta_meV=delta,
            b=0.5 * (p.phi.T @ wb + (p.phi.T @ wb).T),
            gram=gram,
            wnorm=np.concatenate([p.wnorm, np.linalg.norm(wb, axis=0)]),
            znorm=np.concatenate([p.znorm, np.linalg.norm(zb, axis=0)]),
            # the interpolant of Delta can exceed its largest node value (P2)
            min_eig_meV=-self.coupling.lebesgue_constant * float(np.max(np.abs(delta)))
            if delta.size
            else 0.0,
        )

    def with_valley_coupling(self, delta_meV: NDArray[Any]) -> ValleyReducedBasis:
        """Return the same basis with another valley map (node values); only ``b`` changes."""
        d = np.asarray(delta_meV, dtype=np.complex128)
        if d.shape != (self.coupling.nnodes,):
            where = "mesh vertex" if self.coupling.nodes == "vertices" else "DOF of the basis"
            raise ValueError(
                f"delta_meV has shape {d.shape}; need ({self.coupling.nnodes},) "
                f"(one value per {where})"
            )
        new = object.__new__(ValleyReducedBasis)
        new.__dict__.update(self.__dict__)
        new.__dict__.pop("_full_operators", None)
        t0 = time.perf_counter()
        new.couple = self._coupling_parts(d)
        new.build_s = time.perf_counter() - t0
        return new

    def full_operators(self) -> KPOperators:
        """Return the two-valley operators with this basis's valley map (for fallbacks)."""
        ops = self.__dict__.get("_full_operators")
        if ops is None:
            d = self.couple.delta_meV
            c = np.zeros((d.size, 2, 2), dtype=np.complex128)
            c[:, 0, 1] = d
            c[:, 1, 0] = d.conj()
            ops = self.operators.with_constant(c)
            self.__dict__["_full_operators"] = ops
        return ops

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_full_operators", None)
        return state

    # -- solves ------------------------------------------------------------------------------
    @property
    def vectors(self) -> NDArray[np.complex128]:
        """The two-valley basis ``Phi (x) C^2`` as condensed vectors (ndof, 2m)."""
        phi = self.parts.phi
        z = np.zeros_like(phi)
        return np.vstack([np.hstack([phi, z]), np.hstack([z, phi])]).astype(np.complex128)

    @property
    def size(self) -> int:
        """Dimension of the reduced space (two valleys times the orbitals)."""
        return 2 * int(self.parts.phi.shape[1])

    def count_bound_meV(self, scales: Mapping[str, float]) -> float:
        """Rigorous lower bound of the (k+1)-th two-valley eigenvalue at ``scales`` (meV)."""
        bound = _weyl_bound(self._anchors, scales, self.operators.terms_range_meV)
        return float(bound + self.couple.min_eig_meV)

    def solve(self, scales: Mapping[str, float], *, vectors: bool = True) -> ReducedSolution:
        """Rayleigh-Ritz at ``scales`` with the certificate of :meth:`ReducedBasis.solve`.

        With ``vectors=False`` the result carries the reduced coefficients only
        (``ReducedSolution.coefficients``; ``result.vectors`` is empty), enough for
        :meth:`expectation`.
        """
        t0 = time.perf_counter()
        self.operators.check_scales(scales)
        p, c, k = self.parts, self.couple, self.k
        m = p.phi.shape[1]
        hs = p.h.copy()
        for name, s in scales.items():
            if s != 0:
                hs = hs + float(s) * p.terms[name]
        hr = np.block([[hs, c.b], [c.b.conj(), hs]])
        theta, y = la.eigh(_hermitian(hr), subset_by_index=[0, k - 1])
        yp, ym = y[:m], y[m:]
        coef = [1.0] + [float(scales.get(name, 0.0)) for name in p.terms]

        def stack(a: NDArray[Any], other: NDArray[Any]) -> NDArray[Any]:
            return np.vstack([*(f * a for f in coef), -a * theta, other])

        cp, cm = stack(yp, ym), stack(ym, yp)
        # R^H M^-1 R over both valleys; the (-) valley sees B^H Phi = conj(B Phi)
        gram = _hermitian(cp.conj().T @ (c.gram @ cp) + cm.conj().T @ (c.gram.conj() @ cm))
        # rounding allowance of the Gram evaluation (entries of W^T Z to n eps |w| |z|)
        n_sum = self.scalar.ni + 8 * cp.shape[0]
        allow = (
            n_sum
            * np.finfo(float).eps
            * (
                (np.abs(cp).T @ c.wnorm) * (np.abs(cp).T @ c.znorm)
                + (np.abs(cm).T @ c.wnorm) * (np.abs(cm).T @ c.znorm)
            )
        )
        residual = np.sqrt(np.maximum(np.real(np.diag(gram)), 0.0) + allow)
        rho = float(np.sqrt(max(float(np.linalg.eigvalsh(gram)[-1]), 0.0) + float(allow.sum())))
        lower = self.count_bound_meV(scales)
        rounding = 64 * np.finfo(float).eps * float(np.max(np.abs(theta))) * self.size
        bound, gap = _ritz_bound(theta, rho, lower, rounding)
        certified = bool(bound <= self.tolerance_meV)
        states = state_bounds(theta, gram, bound, rounding=rounding, allowance=allow)
        slopes = {
            name: np.real(
                np.einsum("ai,ab,bi->i", yp.conj(), t, yp)
                + np.einsum("ai,ab,bi->i", ym.conj(), t, ym)
            )
            for name, t in p.terms.items()
        }
        ops = self.operators
        # Phi is M-orthonormal: the valley weights are those of the reduced coefficients
        weights = np.stack(
            [np.sum(np.abs(yp) ** 2, axis=0), np.sum(np.abs(ym) ** 2, axis=0)], axis=1
        )
        x = np.vstack([p.phi @ yp, p.phi @ ym]) if vectors else np.zeros((0, k), complex)
        comps = ops.expand(x) if vectors else None
        result = EigenResult(
            energies_meV=np.asarray(theta, dtype=float),
            vectors=x,
            components=comps,
            weights=weights,
            residuals=np.asarray(residual / np.maximum(np.abs(theta), 1e-300), dtype=float),
            backend="reduced",
            shift_meV=float("nan"),
            timings_s={"total": time.perf_counter() - t0, "full_solve": 0.0},
        )
        return ReducedSolution(
            result=result,
            residual_meV=np.asarray(residual, dtype=float),
            error_bound_meV=float(bound),
            gap_meV=float(gap),
            certified=certified,
            coefficients=y,
            state_bounds_meV=states,
            term_expectations_meV=slopes,
        )

    def components(self, coefficients: NDArray[Any]) -> NDArray[np.complex128]:
        """Return the states of reduced ``coefficients`` (2m, k) on all DOFs: (k, 2, N)."""
        phi = self.parts.phi
        m = phi.shape[1]
        y = np.asarray(coefficients)
        k = y.shape[1]
        # one real product over phi for both valleys and both parts (phi @ y would copy the
        # real phi to complex, and reading phi is the cost of this product)
        z = phi @ np.hstack([y[:m].real, y[:m].imag, y[m:].real, y[m:].imag])
        x = np.vstack([z[:, :k] + 1j * z[:, k : 2 * k], z[:, 2 * k : 3 * k] + 1j * z[:, 3 * k :]])
        return self.operators.expand(x)

    def project_scalar(self, matrix: Any) -> NDArray[Any]:
        """``Phi^T A Phi`` of a scalar operator ``A`` on all DOFs of the basis (N x N).

        A real symmetric ``A`` gives a real symmetric result; a complex symmetric one (a
        bilinear form weighted by a complex field, e.g. ``int Delta phi_i phi_j``) a complex
        symmetric one.
        """
        a = sp.csr_matrix(matrix)[self.operators.interior][:, self.operators.interior]
        proj = self.parts.phi.T @ (a @ self.parts.phi)
        if np.iscomplexobj(proj):
            return np.asarray(0.5 * (proj + proj.T))
        return np.asarray(_hermitian(proj))

    def project_coupling(self, values: NDArray[Any]) -> NDArray[np.complex128]:
        """``Phi^T B(f) Phi`` for a complex vertex field ``f`` (``B(Delta)`` is the coupling)."""
        wb = np.asarray(
            self.coupling.matrix(np.asarray(values, dtype=np.complex128)) @ self.parts.phi
        )
        proj = self.parts.phi.T @ wb
        return np.asarray(0.5 * (proj + proj.T))

    def diagonal_expectation(
        self, projected: NDArray[Any], coefficients: NDArray[Any]
    ) -> NDArray[Any]:
        """``<x_i| A (x) I_2 |x_i>`` (complex when ``A`` is complex symmetric)."""
        m = self.parts.phi.shape[1]
        yp, ym = coefficients[:m], coefficients[m:]
        return np.asarray(
            np.einsum("ai,ab,bi->i", yp.conj(), projected, yp)
            + np.einsum("ai,ab,bi->i", ym.conj(), projected, ym)
        )

    def off_diagonal_expectation(
        self, projected: NDArray[Any], coefficients: NDArray[Any]
    ) -> NDArray[np.float64]:
        """``<x_i| [[0, A], [conj(A), 0]] |x_i> = 2 Re(y+^H A y-)`` for complex symmetric ``A``."""
        m = self.parts.phi.shape[1]
        yp, ym = coefficients[:m], coefficients[m:]
        return np.asarray(2 * np.real(np.einsum("ai,ab,bi->i", yp.conj(), projected, ym)))

    def expectation(
        self, projected: NDArray[np.float64], coefficients: NDArray[Any]
    ) -> NDArray[np.float64]:
        """``<x_i| A (x) I_2 |x_i>`` of every state from its reduced coefficients."""
        m = self.parts.phi.shape[1]
        yp, ym = coefficients[:m], coefficients[m:]
        return np.asarray(
            np.real(
                np.einsum("ai,ab,bi->i", yp.conj(), projected, yp)
                + np.einsum("ai,ab,bi->i", ym.conj(), projected, ym)
            )
        )


class _ScalarSystem:
    """Single-valley operators of a two-valley model, with one mass factorisation."""

    def __init__(self, operators: KPOperators, *, backend: str = "auto") -> None:
        if operators.n_components != 2 or not operators.kinetic_is_scalar:
            raise ValueError(
                "a single-valley basis needs a two-valley model with the same kinetic and "
                f"potential terms in both valleys (n_components = {operators.n_components}, "
                f"scalar kinetic term: {operators.kinetic_is_scalar})"
            )
        ni = int(operators.interior.size)
        self.ni = ni
        self.h1 = (operators.kinetic[:ni, :ni] + operators.potential[:ni, :ni]).real.tocsr()
        self.terms = {n: d[:ni, :ni].real.tocsr() for n, d in operators.terms.items()}
        self.m1 = sp.csr_matrix(operators.mass_scalar, dtype=np.float64)
        self.backend = backend
        self._potential_min_meV = float(operators.potential_min_meV)
        self._terms_range_meV = dict(operators.terms_range_meV)
        with limit_bundled_blas():
            self._solve = factorize(sp.csc_matrix(self.m1), backend=factor_backend(backend))

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_solve"] = None  # a factor is not picklable; workers factorise M again
        return state

    def mass_solve(self, x: NDArray[Any]) -> NDArray[Any]:
        """``M^-1 x`` (real and imaginary parts solved separately)."""
        with limit_bundled_blas():
            if self._solve is None:  # unpickled in a worker: factorise M again (cheap)
                self._solve = factorize(
                    sp.csc_matrix(self.m1), backend=factor_backend(self.backend)
                )
            if np.iscomplexobj(x):
                re = np.asarray(self._solve(np.ascontiguousarray(x.real)))
                im = np.asarray(self._solve(np.ascontiguousarray(x.imag)))
                return re + 1j * im
            return np.asarray(self._solve(np.ascontiguousarray(x)))

    def potential_lower_bound_meV(self, scales: Mapping[str, float]) -> float:
        """Lower bound of the single-valley spectrum: the potential's minimum (meV)."""
        bound = self._potential_min_meV
        for name, s in scales.items():
            lo, hi = self._terms_range_meV[name]
            bound += min(float(s) * lo, float(s) * hi)
        return float(bound)

    def hamiltonian(self, scales: Mapping[str, float]) -> Any:
        h = self.h1
        for name, s in scales.items():
            if s != 0:
                h = h + float(s) * self.terms[name]
        return h.tocsr()


def orbital_snapshot(
    scalar: _ScalarSystem,
    scales: Mapping[str, float],
    *,
    orbitals: int,
    backend: str = "auto",
    lower_bound_meV: float | None = None,
) -> OrbitalSnapshot:
    """Real single-valley solve of the lowest ``orbitals`` states at ``scales``.

    ``lower_bound_meV``: a rigorous lower bound of the single-valley spectrum (the shift of
    shift-invert is placed just below it; default: the potential's minimum).
    """
    from femvalley.eigen import solve_matrices

    h = scalar.hamiltonian(scales)
    if lower_bound_meV is None:
        lower_bound_meV = scalar.potential_lower_bound_meV(scales)
    res = solve_matrices(
        h,
        scalar.m1,
        k=orbitals,
        backend=backend,  # type: ignore[arg-type]
        lower_bound_meV=lower_bound_meV,
        # a fixed start vector: the same snapshot in every process and on every rerun
        warm_start=np.random.default_rng(0).standard_normal((scalar.ni, 1)),
    )
    x = np.real(res.vectors).astype(np.float64)
    e = np.asarray(res.energies_meV, dtype=float)
    r = h @ x - (scalar.m1 @ x) * e
    rho = np.sqrt(np.maximum(np.einsum("ij,ij->j", r, scalar.mass_solve(r)), 0.0))
    return OrbitalSnapshot(
        scales={n: float(v) for n, v in scales.items()},
        energies_meV=e,
        vectors=np.ascontiguousarray(x),
        residual_meV=np.asarray(rho, dtype=float),
    )


def build_valley_basis(
    operators: KPOperators,
    points: Sequence[Mapping[str, float]],
    *,
    delta_meV: NDArray[Any],
    k: int,
    orbitals: int | None = None,
    tolerance_meV: float = 1e-3,
    backend: str = "auto",
    initial: Sequence[int] | None = None,
    max_snapshots: int = 8,
    snapshots: Sequence[OrbitalSnapshot] = (),
    on_snapshot: Callable[[OrbitalSnapshot], None] | None = None,
) -> tuple[ValleyReducedBasis, list[int]]:
    """Greedy single-valley reduced basis that certifies every point of a sweep.

    Like :func:`build_reduced_basis`, with real single-valley solves of ``orbitals`` states
    (default ``4 k``) as snapshots. Returns the basis and the indices of the points it
    does not certify (solve those in full).

    The orbitals must also capture the valley-orbit mixing of any valley map the basis will
    serve (:meth:`ValleyReducedBasis.with_valley_coupling`): on the demo study, 12 orbitals per
    snapshot leave residuals of about 17 ueV and certified bounds near 1 ueV for 15 % of the
    seeds, 32 orbitals residuals of 5-11 ueV and bounds of 0.1-0.4 ueV
    (``benchmarks/RESULTS.md``).
    """
    if not points:
        raise ValueError("points is empty")
    if orbitals is None:
        orbitals = 4 * k
    if not (isinstance(orbitals, int) and orbitals >= (k + 2) // 2):
        raise ValueError(
            f"orbitals = {orbitals!r} must be an integer >= ceil((k + 1) / 2) = {(k + 2) // 2}"
        )
    if not (isinstance(max_snapshots, int) and max_snapshots >= 1):
        raise ValueError(f"max_snapshots = {max_snapshots!r} must be an integer >= 1")
    pts = [{name: float(v) for name, v in p.items()} for p in points]
    snaps = list(snapshots)
    scalar = _ScalarSystem(operators, backend=backend)
    coupling = CouplingAssembler(operators.basis, operators.interior)

    def add(i: int) -> None:
        # the lowest orbital of every earlier snapshot, moved by Weyl's inequality, bounds
        # the new point's spectrum from below: the shift goes just under it
        anchors = [(s.scales, float(s.energies_meV[0] - s.residual_meV[0])) for s in snaps]
        bound = max(
            scalar.potential_lower_bound_meV(pts[i]),
            _weyl_bound(anchors, pts[i], operators.terms_range_meV),
        )
        snap = orbital_snapshot(
            scalar, pts[i], orbitals=orbitals, backend=backend, lower_bound_meV=bound
        )
        snaps.append(snap)
        if on_snapshot is not None:
            on_snapshot(snap)

    def make() -> ValleyReducedBasis:
        return ValleyReducedBasis(
            operators,
            snaps,
            delta_meV=delta_meV,
            k=k,
            tolerance_meV=tolerance_meV,
            backend=backend,
            coupling=coupling,
            scalar=scalar,
        )

    return _greedy(
        pts,
        snaps,
        add=add,
        make=make,
        first=[0, len(pts) - 1] if initial is None else list(initial),
        tolerance_meV=tolerance_meV,
        max_snapshots=max_snapshots,
    )
