"""Certified reduced bases from full two-valley solves (``solver.reduced_basis = "two_valley"``).

Snapshots are full two-valley solves (``k + guard`` states) at a few points of the sweep; the
basis is their M-orthonormal span, and every point is a Rayleigh-Ritz problem with the
certificate of :mod:`femvalley.rb.certificate`. The single-valley basis
(:mod:`femvalley.rb.single_valley`) is the default: cheaper, and a new valley map costs one
projection.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as la
from numpy.typing import NDArray

from femvalley.eigen import EigenResult, solve
from femvalley.kp import KPOperators
from femvalley.linalg import component_weights
from femvalley.rb.certificate import (
    MassSolver,
    ReducedSolution,
    greedy,
    hermitian_part,
    orthonormal_span,
    ritz_bound,
    state_bounds,
    weyl_bound,
)

__all__ = ["Snapshot", "TwoValleyBasis", "build_two_valley_basis", "full_snapshot"]


@dataclass(frozen=True, eq=False)
class Snapshot:
    """A full solve at one point of the sweep: ``k + guard`` eigenpairs."""

    scales: dict[str, float]
    energies_meV: NDArray[np.float64]
    vectors: NDArray[np.complex128]


class TwoValleyBasis:
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
        self.h0 = hermitian_part(v.conj().T @ self._h0v)
        self.terms = {name: hermitian_part(v.conj().T @ dv) for name, dv in self._dv.items()}
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
        return weyl_bound(self._anchors, scales, self.operators.terms_range_meV)

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
        theta, y = la.eigh(hermitian_part(hr), subset_by_index=[0, k - 1])
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
        gram = hermitian_part(r.conj().T @ zr)
        residual = np.sqrt(np.maximum(np.real(np.diag(gram)), 0.0))
        rho = float(np.sqrt(max(float(np.linalg.eigvalsh(gram)[-1]), 0.0)))
        lower = self.count_bound_meV(scales)
        # floating point: the dense eigensolver and the projections are backward stable
        # to a few ulps of the largest entry of the projected matrix
        rounding = 64 * np.finfo(float).eps * float(np.max(np.abs(theta)))
        bound, gap = ritz_bound(theta, rho, lower, rounding)
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


def build_two_valley_basis(
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
) -> tuple[TwoValleyBasis, list[int]]:
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
    basis : TwoValleyBasis
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

    def make() -> TwoValleyBasis:
        return TwoValleyBasis(
            operators, snaps, k=k, tolerance_meV=tolerance_meV, mass_solver=mass, backend=backend
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
