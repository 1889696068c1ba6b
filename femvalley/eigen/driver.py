"""Lowest eigenpairs of ``H x = E M x``: the checked driver and the k.p entry point."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import NDArray

from femvalley.eigen.backends import (
    Backend,
    EigenBackend,
    factorizer,
    make_backend,
    relative_residuals,
    shift_invert,
    sparse_factorization,
    validate_k,
)
from femvalley.eigen.bounds import gershgorin_lower_bound, refined_lower_bound
from femvalley.eigen.result import EigenResult, EigenSolverError
from femvalley.kp import KPOperators
from femvalley.linalg import (
    component_weights,
    m_orthonormalize,
)

__all__ = ["solve", "solve_matrices"]


def solve_matrices(
    h: Any,
    m: Any,
    *,
    k: int,
    n_components: int = 1,
    backend: Backend | EigenBackend = "auto",
    shift_meV: float | None = None,
    lower_bound_meV: float | None = None,
    shift_hint_meV: float | None = None,
    warm_start: EigenResult | NDArray[Any] | None = None,
    tol: float = 0.0,
    residual_tol: float = 1e-8,
    maxiter: int | None = None,
) -> EigenResult:
    """Lowest ``k`` eigenpairs of ``h x = E m x`` for Hermitian ``h`` and positive definite ``m``.

    Parameters
    ----------
    h, m : sparse matrices
        Hamiltonian (meV) and mass matrix, already condensed.
    k : int
        Number of eigenpairs (lowest first).
    n_components : int
        Number of components in the component-major layout (for the weights).
    backend : {"auto", "cholmod", "superlu", "lobpcg", "eigsh", "dense"} or EigenBackend
        Backend name (resolved once by :func:`make_backend`, see the module documentation) or
        a backend object, e.g. from :func:`dense_backend`.
    shift_meV : float, optional
        Shift below the spectrum. By default: just below a warm start's lowest energy if that
        is proven below the spectrum (CHOLMOD only), else ``lower_bound_meV`` minus a margin.
    lower_bound_meV : float, optional
        A rigorous lower bound of the spectrum; if neither this nor ``shift_meV`` is given, the
        bound is estimated by a Gershgorin-type estimate of ``m^-1 h`` (diagonal scaling).
    shift_hint_meV : float, optional
        A shift believed to be below the spectrum and closer to it than the lower bound (used
        by the CHOLMOD and SuperLU backends; CHOLMOD proves it by a successful Cholesky
        factorisation and otherwise falls back to the lower bound).
    warm_start : EigenResult or ndarray, optional
        A previous solution (e.g. the previous sweep point) used as the starting vector and to
        place the shift.
    tol : float
        ARPACK/LOBPCG convergence tolerance (0 means machine precision for ARPACK).
    residual_tol : float
        Accept a result only if every relative residual is below this.
    maxiter : int, optional
        Iteration limit of the iterative method.

    Returns
    -------
    EigenResult
        With ``components=None`` (use :func:`solve` to get per-component arrays).
    """
    t_start = time.perf_counter()
    h, m, eig = _checked_problem(h, m, k, n_components, backend, residual_tol)
    name = eig.name
    ndof = h.shape[0]
    timings: dict[str, float] = {}
    v0, prev_energies = _warm_start_vector(warm_start, ndof, np.result_type(h.dtype, m.dtype))
    if not eig.uses_shift:
        w, x, sigma = eig(
            h,
            m,
            k,
            sigma=float("nan"),
            tight=None,
            n_components=n_components,
            v0=v0,
            tol=tol,
            maxiter=maxiter,
            timings=timings,
        )
    else:
        sigma, tight = _shifts(
            h,
            m,
            sparse_factorization(eig),
            shift_meV,
            lower_bound_meV,
            shift_hint_meV,
            prev_energies,
        )
        failure: str | None = None
        try:
            w, x, sigma = eig(
                h,
                m,
                k,
                sigma=sigma,
                tight=tight,
                n_components=n_components,
                v0=v0,
                tol=tol,
                maxiter=maxiter,
                timings=timings,
            )
            res = relative_residuals(h, m, w, x)
            if not np.all(res < residual_tol):
                failure = f"relative residual {res.max():.3g} > {residual_tol:g}"
        except (spla.ArpackNoConvergence, spla.ArpackError, np.linalg.LinAlgError) as exc:
            failure = f"{type(exc).__name__}: {exc}"
        if failure is not None:
            w, x = _retry(h, m, k, sigma, name, failure, timings)
    res = relative_residuals(h, m, w, x)
    if not np.all(res < residual_tol):
        worst = int(np.argmax(res))
        raise EigenSolverError(
            f"backend {name!r}: eigenpair {worst} (E = {w[worst]:.9g} meV) has relative residual "
            f"{res[worst]:.3g} > residual_tol = {residual_tol:g} after a retry; try another "
            "backend or a finer/better-graded mesh"
        )
    x = m_orthonormalize(m, x)
    weights = component_weights(m, x, n_components)
    timings["total"] = time.perf_counter() - t_start
    return EigenResult(
        energies_meV=w,
        vectors=x,
        components=None,
        weights=weights,
        residuals=res,
        backend=name,
        shift_meV=sigma,
        timings_s=timings,
    )


def _checked_problem(
    h: Any,
    m: Any,
    k: int,
    n_components: int,
    backend: str | EigenBackend,
    residual_tol: float,
) -> tuple[Any, Any, EigenBackend]:
    """Check the matrices and options of :func:`solve_matrices`; return csr h, m and the backend."""
    h = sp.csr_matrix(h)
    m = sp.csr_matrix(m)
    ndof = h.shape[0]
    if h.shape != (ndof, ndof) or m.shape != h.shape:
        raise ValueError(f"h has shape {h.shape} and m has shape {m.shape}; need equal squares")
    if ndof % n_components:
        raise ValueError(f"ndof = {ndof} is not divisible by n_components = {n_components}")
    eig = make_backend(backend)
    validate_k(k, ndof, eig.name)
    for label, a in (("H", h), ("M", m)):
        if not np.all(np.isfinite(a.data)):
            raise ValueError(f"{label} contains NaN or infinite entries")
    if not (residual_tol > 0):
        raise ValueError(f"residual_tol = {residual_tol!r} must be > 0")
    return h, m, eig


def _warm_start_vector(
    warm_start: EigenResult | NDArray[Any] | None, ndof: int, dtype: Any
) -> tuple[NDArray[Any] | None, NDArray[np.float64] | None]:
    """Return the start vector (sum of the previous states) and the previous energies."""
    if warm_start is None:
        return None, None
    xs = warm_start.vectors if isinstance(warm_start, EigenResult) else np.asarray(warm_start)
    if xs.ndim == 1:
        xs = xs[:, None]
    if xs.shape[0] != ndof:
        raise ValueError(f"warm_start vectors have {xs.shape[0]} rows; expected {ndof}")
    v0 = np.asarray(xs.sum(axis=1), dtype=dtype)
    prev = warm_start.energies_meV if isinstance(warm_start, EigenResult) else None
    return v0, prev


def _shifts(
    h: Any,
    m: Any,
    factorization: str | None,
    shift_meV: float | None,
    lower_bound_meV: float | None,
    shift_hint_meV: float | None,
    prev_energies: NDArray[np.float64] | None,
) -> tuple[float, float | None]:
    """Return the safe shift below the spectrum and a tighter one to try first (or None)."""
    if lower_bound_meV is None and shift_meV is None:
        lower_bound_meV = gershgorin_lower_bound(h, m)
    if shift_meV is not None:
        sigma = float(shift_meV)
    else:
        assert lower_bound_meV is not None
        margin = 1e-3 * max(1.0, abs(lower_bound_meV))
        sigma = lower_bound_meV - margin
    tight: float | None = None
    if shift_meV is None and shift_hint_meV is not None and shift_hint_meV > sigma:
        tight = float(shift_hint_meV)
    elif shift_meV is None and prev_energies is not None and factorization == "cholmod":
        # just below the previous ground state; CHOLMOD proves it below the spectrum
        spread = float(prev_energies[-1] - prev_energies[0])
        tight = float(prev_energies[0] - max(0.5 * spread, 0.05))
        if tight <= sigma:
            tight = None
    return sigma, tight


def _retry(
    h: Any, m: Any, k: int, sigma: float, name: str, failure: str, timings: dict[str, float]
) -> tuple[NDArray[np.float64], NDArray[Any]]:
    """One robust retry: SuperLU, larger Krylov space, random start, many iterations."""
    ndof = h.shape[0]
    timings["retry"] = 1.0
    try:
        return shift_invert(
            h,
            m,
            k,
            sigma,
            factorizer("superlu"),
            v0=None,
            tol=0.0,
            ncv=min(ndof - 1, max(4 * k + 1, 40)),
            maxiter=max(10 * ndof, 10000),
            timings=timings,
        )
    except (spla.ArpackNoConvergence, spla.ArpackError, RuntimeError) as exc:
        raise EigenSolverError(
            f"backend {name!r} failed ({failure}) and the SuperLU retry failed too "
            f"({type(exc).__name__}: {exc}); check that M is positive definite and that "
            "the shift is below the spectrum"
        ) from exc


def solve(
    operators: KPOperators,
    *,
    k: int,
    scales: Mapping[str, float] | None = None,
    backend: Backend | EigenBackend = "auto",
    shift_meV: float | None = None,
    warm_start: EigenResult | NDArray[Any] | None = None,
    tol: float = 0.0,
    residual_tol: float = 1e-8,
    maxiter: int | None = None,
    auto_refine_shift: bool = True,
) -> EigenResult:
    """Lowest ``k`` eigenstates of an assembled k.p model.

    Parameters
    ----------
    operators : KPOperators
        From :func:`femvalley.kp.assemble`.
    k : int
        Number of states.
    scales : mapping of str to float, optional
        Scalars of the named potential pieces (``H = H0 + sum s_i D_i``).
    backend, shift_meV, warm_start, tol, residual_tol, maxiter
        See :func:`solve_matrices`. The default shift is just below the model's rigorous
        lower bound of the spectrum (minimum potential plus smallest local eigenvalue of the
        constant term).
    auto_refine_shift : bool
        For multi-component models with a scalar kinetic term, tighten the lower bound with
        the lowest eigenvalue of the real single-component problem (Weyl's inequality) before
        placing the shift. Cheap next to the complex solve, and it cuts the iterations.
        Used by the "cholmod" and "superlu" backends; "eigsh" stays the plain reference.

    Returns
    -------
    EigenResult
        Energies (meV), M-orthonormal vectors, per-component DOF arrays and weights.

    Examples
    --------
    >>> ops = assemble(two_valley_model(dim=2, delta_meV=0.05, potential_meV=u), mesh)
    ... # doctest: +SKIP
    >>> res = solve(ops, k=8)  # doctest: +SKIP
    """
    if not isinstance(operators, KPOperators):
        raise ValueError(
            f"operators is a {type(operators).__name__}; expected KPOperators from kp.assemble "
            "(use solve_matrices for bare matrices)"
        )
    scales = dict(scales or {})
    h = operators.hamiltonian(**scales)
    bound = operators.spectrum_lower_bound_meV(**scales)
    eig = make_backend(backend)
    t0 = time.perf_counter()
    refined = None
    if shift_meV is None and warm_start is None and auto_refine_shift:
        refined = refined_lower_bound(operators, h, sparse_factorization(eig), bound)
    t_refine = time.perf_counter() - t0
    result = solve_matrices(
        h,
        operators.mass,
        k=k,
        n_components=operators.n_components,
        backend=eig,
        lower_bound_meV=bound,
        shift_meV=shift_meV,
        shift_hint_meV=refined,
        warm_start=warm_start,
        tol=tol,
        residual_tol=residual_tol,
        maxiter=maxiter,
    )
    return dataclasses.replace(
        result,
        components=operators.expand(result.vectors),
        timings_s={**result.timings_s, "refine_shift": t_refine},
    )
