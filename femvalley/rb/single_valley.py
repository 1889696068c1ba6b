"""Certified reduced bases from real single-valley orbitals (the default, "single_valley").

The default basis of femvalley's studies and ensembles: real orbitals of the single-valley
problem at a few detunings, used in both valleys, with the valley coupling projected once
(a new valley map is one sparse product). Certified with :mod:`femvalley.rb.certificate`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
from numpy.typing import NDArray

from femvalley.eigen import EigenResult, factor_backend
from femvalley.kp import CouplingAssembler, KPOperators
from femvalley.linalg import factorize, limit_bundled_blas
from femvalley.rb.certificate import (
    ReducedSolution,
    greedy,
    hermitian_part,
    orthonormal_span,
    ritz_bound,
    state_bounds,
    weyl_bound,
)
from femvalley.typing import Solve, SparseMatrix

__all__ = [
    "OrbitalSnapshot",
    "SingleValleyBasis",
    "build_single_valley_basis",
    "orbital_snapshot",
]


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


class SingleValleyBasis:
    """Certified reduced basis of the two-valley problem from real single-valley orbitals.

    The valley coupling is small next to the orbital spacing, so the low two-valley states lie
    close to ``span(Phi) (x) C^2``, where ``Phi`` are the lowest orbitals of the single-valley
    problem (real, much cheaper than the complex two-valley solve) at a few detunings. The
    reduced Hamiltonian is ``[[h + s d, b], [conj(b), h + s d]]`` with ``b = Phi^T B(Delta)
    Phi``; only ``b`` depends on the valley map, so a new disorder seed is
    :meth:`with_valley_coupling` (one sparse product, one mass solve, a few dense products),
    and each sweep point is a ``2m x 2m`` Hermitian problem.

    Every point is certified as in :class:`TwoValleyBasis` (residual in the ``M^-1`` norm,
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
        h = hermitian_part(phi.T @ w[:, :m])
        terms = {
            name: hermitian_part(phi.T @ w[:, (i + 1) * m : (i + 2) * m])
            for i, name in enumerate(sc.terms)
        }
        self.parts = _ScalarParts(
            phi=np.ascontiguousarray(phi),
            h=h,
            terms=terms,
            w=w,
            z=z,
            gram=hermitian_part(w.T @ z),
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
        g_bb = hermitian_part(wb.conj().T @ zb)
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

    def with_valley_coupling(self, delta_meV: NDArray[Any]) -> SingleValleyBasis:
        """Return the same basis with another valley map (node values); only ``b`` changes."""
        d = np.asarray(delta_meV, dtype=np.complex128)
        if d.shape != (self.coupling.nnodes,):
            where = "mesh vertex" if self.coupling.nodes == "vertices" else "DOF of the basis"
            raise ValueError(
                f"delta_meV has shape {d.shape}; need ({self.coupling.nnodes},) "
                f"(one value per {where})"
            )
        new = object.__new__(SingleValleyBasis)
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
        bound = weyl_bound(self._anchors, scales, self.operators.terms_range_meV)
        return float(bound + self.couple.min_eig_meV)

    def solve(self, scales: Mapping[str, float], *, vectors: bool = True) -> ReducedSolution:
        """Rayleigh-Ritz at ``scales`` with the certificate of :meth:`TwoValleyBasis.solve`.

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
        theta, y = la.eigh(hermitian_part(hr), subset_by_index=[0, k - 1])
        yp, ym = y[:m], y[m:]
        coef = [1.0] + [float(scales.get(name, 0.0)) for name in p.terms]

        def stack(a: NDArray[Any], other: NDArray[Any]) -> NDArray[Any]:
            return np.vstack([*(f * a for f in coef), -a * theta, other])

        cp, cm = stack(yp, ym), stack(ym, yp)
        # R^H M^-1 R over both valleys; the (-) valley sees B^H Phi = conj(B Phi)
        gram = hermitian_part(cp.conj().T @ (c.gram @ cp) + cm.conj().T @ (c.gram.conj() @ cm))
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
        bound, gap = ritz_bound(theta, rho, lower, rounding)
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
        x = self._condensed(y) if vectors else np.zeros((0, k), complex)
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
        return self.operators.expand(self._condensed(np.asarray(coefficients)))

    def _condensed(self, y: NDArray[Any]) -> NDArray[np.complex128]:
        """Condensed two-valley vectors ``(Phi y+, Phi y-)`` of coefficients ``y`` (2m, k)."""
        phi = self.parts.phi
        m, k = phi.shape[1], y.shape[1]
        # one real product over phi for both valleys and both parts (phi @ y would copy the
        # real phi to complex, and reading phi is the cost of this product)
        z = phi @ np.hstack([y[:m].real, y[:m].imag, y[m:].real, y[m:].imag])
        plus = z[:, :k] + 1j * z[:, k : 2 * k]
        return np.vstack([plus, z[:, 2 * k : 3 * k] + 1j * z[:, 3 * k :]])

    def project_scalar(self, matrix: SparseMatrix) -> NDArray[Any]:
        """``Phi^T A Phi`` of a scalar operator ``A`` on all DOFs of the basis (N x N).

        A real symmetric ``A`` gives a real symmetric result; a complex symmetric one (a
        bilinear form weighted by a complex field, e.g. ``int Delta phi_i phi_j``) a complex
        symmetric one.
        """
        a = sp.csr_matrix(matrix)[self.operators.interior][:, self.operators.interior]
        proj = self.parts.phi.T @ (a @ self.parts.phi)
        if np.iscomplexobj(proj):
            return np.asarray(0.5 * (proj + proj.T))
        return np.asarray(hermitian_part(proj))

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
        self.h1: SparseMatrix = (
            operators.kinetic[:ni, :ni] + operators.potential[:ni, :ni]
        ).real.tocsr()
        self.terms: dict[str, SparseMatrix] = {
            n: d[:ni, :ni].real.tocsr() for n, d in operators.terms.items()
        }
        self.m1: SparseMatrix = sp.csr_matrix(operators.mass_scalar, dtype=np.float64)
        self.backend = backend
        self._potential_min_meV = float(operators.potential_min_meV)
        self._terms_range_meV = dict(operators.terms_range_meV)
        with limit_bundled_blas():
            self._solve: Solve | None = factorize(
                sp.csc_matrix(self.m1), backend=factor_backend(backend)
            )

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

    def hamiltonian(self, scales: Mapping[str, float]) -> SparseMatrix:
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


def build_single_valley_basis(
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
) -> tuple[SingleValleyBasis, list[int]]:
    """Greedy single-valley reduced basis that certifies every point of a sweep.

    Like :func:`build_two_valley_basis`, with real single-valley solves of ``orbitals`` states
    (default ``4 k``) as snapshots. Returns the basis and the indices of the points it
    does not certify (solve those in full).

    The orbitals must also capture the valley-orbit mixing of any valley map the basis will
    serve (:meth:`SingleValleyBasis.with_valley_coupling`): on the demo study, 12 orbitals per
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
            weyl_bound(anchors, pts[i], operators.terms_range_meV),
        )
        snap = orbital_snapshot(
            scalar, pts[i], orbitals=orbitals, backend=backend, lower_bound_meV=bound
        )
        snaps.append(snap)
        if on_snapshot is not None:
            on_snapshot(snap)

    def make() -> SingleValleyBasis:
        return SingleValleyBasis(
            operators,
            snaps,
            delta_meV=delta_meV,
            k=k,
            tolerance_meV=tolerance_meV,
            backend=backend,
            coupling=coupling,
            scalar=scalar,
        )

    return greedy(
        pts,
        snaps,
        add=add,
        make=make,
        first=[0, len(pts) - 1] if initial is None else list(initial),
        tolerance_meV=tolerance_meV,
        max_snapshots=max_snapshots,
    )
