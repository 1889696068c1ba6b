"""Consecutive detunings with one factorisation and warm starts (the direct sweep method)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse.linalg as spla
from numpy.typing import NDArray

from femvalley.eigen.backends import (
    Backend,
    EigenBackend,
    factorizer,
    make_backend,
    relative_residuals,
    sparse_factorization,
    validate_k,
)
from femvalley.eigen.driver import solve
from femvalley.eigen.result import EigenResult
from femvalley.kp import KPOperators
from femvalley.linalg import (
    component_weights,
    limit_bundled_blas,
    m_orthonormalize,
)

__all__ = ["SweepSolver"]


class SweepSolver:
    """Lowest states of ``H(s) = H0 + sum_i s_i D_i`` at many nearby ``s``, one factorisation.

    The first point (:meth:`start`) is solved in full by :func:`solve` (shift-invert,
    factorised at that point). Its operator ``H(s_ref) - sigma M``, with ``sigma`` a little
    below the ground state, is then factorised once and used as the preconditioner of
    block LOBPCG at the following points (:meth:`step`), each started from the previous
    point's vectors (``k`` states plus ``guard`` more, which speed up convergence of the
    highest wanted state). Near ``s_ref`` the preconditioned operator is close to the
    shift-inverted one, so a few iterations suffice, each costing one block solve with the
    factor: about 3x faster per point than a full shift-invert solve on a 3-D two-valley
    problem (benchmarks/RESULTS.md), with the same accuracy (every pair passes the same
    relative-residual test). A point that fails it is solved in full and becomes the new
    reference; its result is as accurate as any other.

    An iterative method can converge to eigenpairs with tiny residuals and still skip one.
    Two checks from Weyl's inequality guard against that: a step is attempted only when the
    carried block reaches above the wanted states by more than twice the largest possible
    eigenvalue shift ``sum_i |ds_i| max|D_i|`` (so no state from outside the block can
    enter), and every returned energy must lie within that shift of the previous one.
    Otherwise the point is solved in full.

    Parameters
    ----------
    operators : KPOperators
        The assembled model.
    k : int
        Number of states.
    guard : int
        Extra vectors carried along (not returned).
    backend : str or EigenBackend
        Backend of the full solves and of the factorisation, resolved once
        (:func:`make_backend`): a CHOLMOD or SuperLU shift-invert backend; other backends
        solve every point in full.
    residual_tol : float
        Acceptance test of every returned pair (as in :func:`solve_matrices`).
    """

    def __init__(
        self,
        operators: KPOperators,
        *,
        k: int,
        guard: int = 4,
        backend: Backend | EigenBackend = "auto",
        residual_tol: float = 1e-8,
        shift_below_meV: float = 0.3,
        maxiter: int = 40,
    ) -> None:
        self.operators = operators
        self.k = int(k)
        self.guard = int(guard)
        self.backend = make_backend(backend)
        validate_k(self.k + self.guard, operators.ndof, self.backend.name)
        self.residual_tol = float(residual_tol)
        self.shift_below_meV = float(shift_below_meV)
        self.maxiter = int(maxiter)
        self._precond: Any = None
        self._sigma = float("nan")
        self._block: NDArray[Any] | None = None
        self._energies = np.zeros(0)
        self._scales: dict[str, float] = {}
        self._tol = 0.0
        self.full_solves = 0

    def start(self, scales: Mapping[str, float]) -> EigenResult:
        """Solve ``H(scales)`` in full and make it the reference of the following points."""
        t0 = time.perf_counter()
        full = solve(
            self.operators,
            k=self.k + self.guard,
            scales=scales,
            backend=self.backend,
            residual_tol=self.residual_tol,
        )
        self.full_solves += 1
        self._block = full.vectors
        self._energies = np.asarray(full.energies_meV, dtype=float)
        self._scales = dict(scales)
        # LOBPCG's tolerance is absolute on ||H x - E M x|| (M-normalised x): aim at half
        # the relative residual_tol on the scale of these states
        h = self.operators.hamiltonian(**scales)
        x = full.vectors[:, : self.k]
        scale = np.linalg.norm(h @ x, axis=0) + np.abs(full.energies_meV[: self.k]) * (
            np.linalg.norm(self.operators.mass @ x, axis=0)
        )
        self._tol = 0.5 * self.residual_tol * float(np.min(scale))
        self._precond = None
        factorization = sparse_factorization(self.backend)
        if factorization is not None:
            self._sigma = float(full.energies_meV[0]) - self.shift_below_meV
            factor = factorizer(factorization)
            with limit_bundled_blas():
                solve_fn = factor((h - self._sigma * self.operators.mass).tocsc())
            n = h.shape[0]
            self._precond = spla.LinearOperator(
                (n, n), matvec=solve_fn, matmat=solve_fn, dtype=h.dtype
            )
        timings = {"total": time.perf_counter() - t0, "full_solve": 1.0}
        return self._result(full.energies_meV, full.vectors, full.shift_meV, timings, h)

    def step(self, scales: Mapping[str, float]) -> EigenResult:
        """Solve ``H(scales)`` from the previous point's vectors (LOBPCG, fixed factor)."""
        if self._block is None or self._precond is None:
            return self.start(scales)
        # Weyl: every eigenvalue moves by at most sum_i |ds_i| max|D_i| (the range of each
        # potential term bounds its Rayleigh quotient). A warm start is trusted only if no
        # state outside the carried block can reach the wanted ones.
        move = 0.0
        for name in set(scales) | set(self._scales):
            lo, hi = self.operators.terms_range_meV[name]
            ds = float(scales.get(name, 0.0)) - float(self._scales.get(name, 0.0))
            move += abs(ds) * max(abs(lo), abs(hi))
        e_prev = self._energies
        if self.guard < 1 or e_prev[-1] - e_prev[self.k - 1] <= 2 * move:
            return self.start(scales)
        t0 = time.perf_counter()
        h = self.operators.hamiltonian(**scales)
        m = self.operators.mass
        a = (h - self._sigma * m).tocsr()
        try:
            with limit_bundled_blas():
                w, x = spla.lobpcg(
                    a,
                    self._block,
                    B=m,
                    M=self._precond,
                    tol=self._tol,
                    maxiter=self.maxiter,
                    largest=False,
                    verbosityLevel=0,
                )
        except (np.linalg.LinAlgError, ValueError):
            return self.start(scales)
        w = np.asarray(w, dtype=float) + self._sigma
        order = np.argsort(w)
        w, x = w[order], np.asarray(x[:, order])
        res = relative_residuals(h, m, w[: self.k], x[:, : self.k])
        slack = 1e-9 * max(1.0, float(np.max(np.abs(w))))
        if not np.all(res < self.residual_tol) or np.any(
            np.abs(w[: self.k] - e_prev[: self.k]) > move + slack
        ):
            return self.start(scales)
        self._block = x
        self._energies = w
        self._scales = dict(scales)
        timings = {"total": time.perf_counter() - t0, "full_solve": 0.0}
        return self._result(w, x, self._sigma, timings, h)

    def _result(
        self,
        energies: NDArray[np.float64],
        vectors: NDArray[Any],
        shift: float,
        timings: dict[str, float],
        h: Any,
    ) -> EigenResult:
        k = self.k
        x = m_orthonormalize(self.operators.mass, vectors[:, :k])
        n = self.operators.n_components
        return EigenResult(
            energies_meV=np.asarray(energies[:k], dtype=float),
            vectors=x,
            components=self.operators.expand(x),
            weights=component_weights(self.operators.mass, x, n),
            residuals=relative_residuals(h, self.operators.mass, energies[:k], x),
            backend=f"{self.backend.name}+sweep",
            shift_meV=shift,
            timings_s=timings,
        )
