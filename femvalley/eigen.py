"""Lowest eigenpairs of the generalized Hermitian problem ``H x = E M x``.

Backends (linear solvers inside shift-invert Lanczos, or a block iterative method):

``"cholmod"``
    Sparse Cholesky ``(H - sigma M) = L L^H`` with CHOLMOD (scikit-sparse, optional extra
    ``femvalley[cholmod]``). The shift is below the spectrum, so ``H - sigma M`` is positive
    definite and a Cholesky factorisation applies; a failed factorisation proves the shift is not
    below the spectrum and the solver falls back to a rigorous lower bound.
``"superlu"``
    SciPy's SuperLU with a symmetric ordering (``MMD_AT_PLUS_A``, ``SymmetricMode``), pure SciPy.
``"lobpcg"``
    LOBPCG preconditioned with smoothed-aggregation AMG (pyamg) on ``H - sigma M``.
``"eigsh"``
    Plain ``scipy.sparse.linalg.eigsh(H, k, M, sigma)`` with SciPy's default internal solver; the
    reference every other backend is measured against.
``"dense"``
    ``scipy.linalg.eigh`` on dense matrices, for tests on tiny meshes.

``"auto"`` picks CHOLMOD when it is installed, SuperLU otherwise.

Every result is checked: the relative residual ``||H x - E M x|| / (||H x|| + |E| ||M x||)`` of
each pair must be below ``residual_tol``. If it is not, the solve is retried once with a more
robust setting (SuperLU, larger Krylov space, more iterations, a random start) and then a
:class:`EigenSolverError` is raised. Unconverged states are never returned.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import NDArray

from femvalley.kp import KPOperators
from femvalley.linalg import (
    cholmod_available,
    component_weights,
    factorize,
    is_not_positive_definite,
    limit_bundled_blas,
    m_orthonormalize,
)

__all__ = [
    "DENSE_MAX_DOF",
    "available_backends",
    "Backend",
    "EigenResult",
    "EigenSolverError",
    "factor_backend",
    "solve",
    "solve_matrices",
    "SweepSolver",
]

Backend = Literal["auto", "cholmod", "superlu", "lobpcg", "eigsh", "dense"]
_BACKENDS = ("auto", "cholmod", "superlu", "lobpcg", "eigsh", "dense")


class EigenSolverError(RuntimeError):
    """The eigensolver did not converge to the requested accuracy, even after a retry."""


def available_backends() -> list[str]:
    """Backends usable on this machine (CHOLMOD only if scikit-sparse is installed)."""
    out = ["superlu", "lobpcg", "eigsh", "dense"]
    if cholmod_available():
        out.insert(0, "cholmod")
    return out


def factor_backend(backend: str) -> Literal["cholmod", "superlu"]:
    """Return the sparse factorisation that goes with an eigensolver backend.

    CHOLMOD for ``"cholmod"`` (and ``"auto"`` where it is installed), SuperLU otherwise; an
    unknown or unavailable backend raises ``ValueError``.
    """
    return "cholmod" if _resolve_backend(backend) == "cholmod" else "superlu"


def _factorizer(name: str) -> Callable[[Any], Callable[[NDArray[Any]], NDArray[Any]]]:
    """Return ``a -> solve``: CHOLMOD for ``"cholmod"``, SuperLU for anything else."""
    return functools.partial(factorize, backend="cholmod" if name == "cholmod" else "superlu")


@dataclass(frozen=True, eq=False)
class EigenResult:
    """Lowest eigenpairs of ``H x = E M x``.

    Attributes
    ----------
    energies_meV : ndarray, shape (k,)
        Eigenvalues in increasing order, meV.
    vectors : ndarray, shape (ndof, k)
        Condensed eigenvectors, M-orthonormal (``X^H M X = I``).
    components : ndarray, shape (k, n_components, N) or None
        The eigenvectors scattered to full DOF arrays per component (zero on Dirichlet DOFs);
        ``None`` for :func:`solve_matrices`.
    weights : ndarray, shape (k, n_components)
        Weight ``<psi_p | M | psi_p>`` of each component (valley weights for two valleys); rows
        sum to 1.
    residuals : ndarray, shape (k,)
        Relative residual norms ``||H x - E M x|| / (||H x|| + |E| ||M x||)``.
    backend : str
        Backend that produced the result.
    shift_meV : float
        Shift used for shift-invert (``nan`` for dense).
    timings_s : dict
        Wall times of the stages (factorisation, iteration, total).
    """

    energies_meV: NDArray[np.float64]
    vectors: NDArray[Any]
    components: NDArray[Any] | None
    weights: NDArray[np.float64]
    residuals: NDArray[np.float64]
    backend: str
    shift_meV: float
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def valley_polarization(self) -> NDArray[np.float64]:
        """``<tau_z> = w_0 - w_1`` for two-component results (``nan`` otherwise)."""
        if self.weights.shape[1] != 2:
            return np.full(self.weights.shape[0], np.nan)
        return self.weights[:, 0] - self.weights[:, 1]


# --------------------------------------------------------------------------------------------
# shift-invert operators
# --------------------------------------------------------------------------------------------


def _relative_residuals(
    h: Any, m: Any, energies: NDArray[np.float64], x: NDArray[Any]
) -> NDArray[np.float64]:
    hx = h @ x
    mx = m @ x
    r = hx - mx * energies[None, :]
    denom = np.linalg.norm(hx, axis=0) + np.abs(energies) * np.linalg.norm(mx, axis=0)
    denom = np.where(denom > 0, denom, 1.0)
    return np.asarray(np.linalg.norm(r, axis=0) / denom)


def _run_shift_invert(
    h: Any,
    m: Any,
    k: int,
    sigma: float,
    factor: Callable[[Any], Callable[[NDArray[Any]], NDArray[Any]]] | None,
    *,
    v0: NDArray[Any] | None,
    tol: float,
    ncv: int | None,
    maxiter: int | None,
    timings: dict[str, float],
) -> tuple[NDArray[np.float64], NDArray[Any]]:
    n = h.shape[0]
    dtype = np.result_type(h.dtype, m.dtype)
    opinv = None
    if factor is not None:
        t0 = time.perf_counter()
        solve_fn = factor((h - sigma * m).tocsc())
        timings["factorize"] = timings.get("factorize", 0.0) + time.perf_counter() - t0
        opinv = spla.LinearOperator((n, n), matvec=solve_fn, dtype=dtype)
    t0 = time.perf_counter()
    w, x = spla.eigsh(
        h,
        k=k,
        M=m,
        sigma=sigma,
        which="LM",
        OPinv=opinv,
        v0=v0,
        tol=tol,
        ncv=ncv,
        maxiter=maxiter,
    )
    timings["iterate"] = timings.get("iterate", 0.0) + time.perf_counter() - t0
    order = np.argsort(w)
    return np.asarray(w[order], dtype=float), np.asarray(x[:, order])


def _real_part(a: Any) -> Any:
    """Real part of a sparse matrix with contiguous data (``A.real`` is a strided view)."""
    a = sp.csr_matrix(a)
    return sp.csr_matrix(
        (np.ascontiguousarray(a.data.real), a.indices.copy(), a.indptr.copy()), shape=a.shape
    )


def _block_amg_preconditioner(a: Any, n: int) -> Any:
    """Block-diagonal AMG preconditioner for an n-component (component-major) operator.

    Each diagonal block is approximated by smoothed-aggregation AMG on its real part; the
    intervalley blocks are dropped (they are small next to the orbital energies). Identical
    diagonal blocks share one hierarchy, and AMG on the real part is several times cheaper than
    on the complex operator.
    """
    import pyamg

    ni = a.shape[0] // n
    hierarchies: list[Any] = []
    blocks: list[Any] = []
    for p in range(n):
        blk = a[p * ni : (p + 1) * ni, p * ni : (p + 1) * ni].tocsr()
        blk = _real_part(blk) if np.iscomplexobj(blk.data) else blk
        reuse = None
        for q, other in enumerate(blocks):
            if other.shape == blk.shape and other.nnz == blk.nnz and (other != blk).nnz == 0:
                reuse = hierarchies[q]
                break
        if reuse is None:
            reuse = pyamg.smoothed_aggregation_solver(blk, symmetry="symmetric", max_coarse=500)
        blocks.append(blk)
        hierarchies.append(reuse)
    precs = [ml.aspreconditioner(cycle="V") for ml in hierarchies]

    def apply(x: NDArray[Any]) -> NDArray[Any]:
        x2 = x.reshape(a.shape[0], -1)
        out = np.empty_like(x2, dtype=np.result_type(x2.dtype, a.dtype))
        for p, prec in enumerate(precs):
            sl = slice(p * ni, (p + 1) * ni)
            for j in range(x2.shape[1]):
                col = x2[sl, j]
                if np.iscomplexobj(col):
                    out[sl, j] = prec @ col.real + 1j * (prec @ col.imag)
                else:
                    out[sl, j] = prec @ col
        return out.reshape(x.shape)

    return spla.LinearOperator(a.shape, matvec=apply, matmat=apply, dtype=a.dtype)


def _run_lobpcg(
    h: Any,
    m: Any,
    k: int,
    sigma: float,
    *,
    n_components: int,
    x0: NDArray[Any] | None,
    tol: float,
    maxiter: int,
    timings: dict[str, float],
    seed: int = 0,
) -> tuple[NDArray[np.float64], NDArray[Any]]:
    n = h.shape[0]
    dtype = np.result_type(h.dtype, m.dtype)
    t0 = time.perf_counter()
    a = (h - sigma * m).tocsr()
    prec = _block_amg_preconditioner(a, n_components)
    timings["factorize"] = timings.get("factorize", 0.0) + time.perf_counter() - t0
    nblock = min(max(k + 4, int(1.25 * k)), n)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, nblock)).astype(dtype)
    if x0 is not None:
        j = min(x0.shape[1], nblock)
        x[:, :j] = x0[:, :j]
    t0 = time.perf_counter()
    # LOBPCG on the shifted (positive definite) operator; its residual tolerance is absolute,
    # hence scaled with the operator by the caller (nm/meV keeps entries within 1e-3..1e3).
    w, xv = spla.lobpcg(
        a, x, B=m, M=prec, tol=tol, maxiter=maxiter, largest=False, verbosityLevel=0
    )
    timings["iterate"] = timings.get("iterate", 0.0) + time.perf_counter() - t0
    w = np.asarray(w, dtype=float) + sigma
    order = np.argsort(w)[:k]
    return w[order], np.asarray(xv[:, order])


def _dense(h: Any, m: Any, k: int) -> tuple[NDArray[np.float64], NDArray[Any]]:
    import scipy.linalg as la

    hd = h.toarray() if sp.issparse(h) else np.asarray(h)
    md = m.toarray() if sp.issparse(m) else np.asarray(m)
    w, x = la.eigh(hd, md, subset_by_index=(0, k - 1))
    return np.asarray(w, dtype=float), np.asarray(x)


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


#: Largest problem the dense backend accepts (a complex 20000^2 matrix is 6.4 GB).
DENSE_MAX_DOF = 20000


def _validate_k(k: int, ndof: int, backend: str) -> None:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k = {k!r} must be an integer >= 1")
    if backend == "dense" and ndof > DENSE_MAX_DOF:
        raise ValueError(
            f"backend = 'dense' with {ndof} degrees of freedom (> {DENSE_MAX_DOF}) would need "
            f"{16 * ndof**2 / 2**30:.1f} GiB per matrix; use a sparse backend"
        )
    limit = ndof if backend == "dense" else ndof - 1
    if k > limit:
        raise ValueError(
            f"k = {k} is too large for a problem with {ndof} degrees of freedom "
            f"(at most {limit} with backend {backend!r}); refine the mesh or ask for fewer states"
        )


def _resolve_backend(backend: str) -> str:
    if backend not in _BACKENDS:
        raise ValueError(f"backend = {backend!r}; allowed: {', '.join(_BACKENDS)}")
    if backend == "auto":
        return "cholmod" if "cholmod" in available_backends() else "superlu"
    if backend == "cholmod" and "cholmod" not in available_backends():
        raise ValueError(
            "backend = 'cholmod' needs scikit-sparse (pip install 'femvalley[cholmod]', which "
            "needs Debian's libsuitesparse-dev); use 'superlu' or 'auto'"
        )
    return backend


def solve_matrices(
    h: Any,
    m: Any,
    *,
    k: int,
    n_components: int = 1,
    backend: Backend = "auto",
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
    backend : {"auto", "cholmod", "superlu", "lobpcg", "eigsh", "dense"}
        Linear-solver backend, see the module documentation.
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
    h, m, name = _checked_problem(h, m, k, n_components, backend, residual_tol)
    ndof = h.shape[0]
    timings: dict[str, float] = {}
    v0, prev_energies = _warm_start_vector(warm_start, ndof, np.result_type(h.dtype, m.dtype))
    if name == "dense":
        w, x = _dense(h, m, k)
        sigma = float("nan")
    else:
        sigma, tight = _shifts(
            h, m, name, shift_meV, lower_bound_meV, shift_hint_meV, prev_energies
        )
        failure: str | None = None
        try:
            w, x, sigma = _iterate(
                name,
                h,
                m,
                k,
                sigma,
                tight,
                n_components=n_components,
                v0=v0,
                tol=tol,
                maxiter=maxiter,
                timings=timings,
            )
            res = _relative_residuals(h, m, w, x)
            if not np.all(res < residual_tol):
                failure = f"relative residual {res.max():.3g} > {residual_tol:g}"
        except (spla.ArpackNoConvergence, spla.ArpackError, np.linalg.LinAlgError) as exc:
            failure = f"{type(exc).__name__}: {exc}"
        if failure is not None:
            w, x = _retry(h, m, k, sigma, name, failure, timings)
    res = _relative_residuals(h, m, w, x)
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
    h: Any, m: Any, k: int, n_components: int, backend: str, residual_tol: float
) -> tuple[Any, Any, str]:
    """Check the matrices and options of :func:`solve_matrices`; return csr h, m and the backend."""
    h = sp.csr_matrix(h)
    m = sp.csr_matrix(m)
    ndof = h.shape[0]
    if h.shape != (ndof, ndof) or m.shape != h.shape:
        raise ValueError(f"h has shape {h.shape} and m has shape {m.shape}; need equal squares")
    if ndof % n_components:
        raise ValueError(f"ndof = {ndof} is not divisible by n_components = {n_components}")
    name = _resolve_backend(backend)
    _validate_k(k, ndof, name)
    for label, a in (("H", h), ("M", m)):
        if not np.all(np.isfinite(a.data)):
            raise ValueError(f"{label} contains NaN or infinite entries")
    if not (residual_tol > 0):
        raise ValueError(f"residual_tol = {residual_tol!r} must be > 0")
    return h, m, name


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
    name: str,
    shift_meV: float | None,
    lower_bound_meV: float | None,
    shift_hint_meV: float | None,
    prev_energies: NDArray[np.float64] | None,
) -> tuple[float, float | None]:
    """Return the safe shift below the spectrum and a tighter one to try first (or None)."""
    if lower_bound_meV is None and shift_meV is None:
        lower_bound_meV = _gershgorin_lower_bound(h, m)
    if shift_meV is not None:
        sigma = float(shift_meV)
    else:
        assert lower_bound_meV is not None
        margin = 1e-3 * max(1.0, abs(lower_bound_meV))
        sigma = lower_bound_meV - margin
    tight: float | None = None
    if shift_meV is None and shift_hint_meV is not None and shift_hint_meV > sigma:
        tight = float(shift_hint_meV)
    elif shift_meV is None and prev_energies is not None and name == "cholmod":
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
        return _run_shift_invert(
            h,
            m,
            k,
            sigma,
            _factorizer("superlu"),
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


def _iterate(
    name: str,
    h: Any,
    m: Any,
    k: int,
    sigma: float,
    tight: float | None,
    *,
    n_components: int,
    v0: NDArray[Any] | None,
    tol: float,
    maxiter: int | None,
    timings: dict[str, float],
) -> tuple[NDArray[np.float64], NDArray[Any], float]:
    if name == "lobpcg":
        x0 = None if v0 is None else v0[:, None]
        # LOBPCG's tolerance is absolute on ||A x - lambda M x|| with M-normalised x; with
        # nm/meV units, 1e-8 gives relative residuals of about 1e-10 (benchmarks/RESULTS.md)
        lobpcg_tol = 1e-8
        w, x = _run_lobpcg(
            h,
            m,
            k,
            sigma,
            n_components=n_components,
            x0=x0,
            tol=tol if tol > 0 else lobpcg_tol,
            maxiter=maxiter or 2000,
            timings=timings,
        )
        return w, x, sigma
    if name == "eigsh":
        w, x = _run_shift_invert(
            h, m, k, sigma, None, v0=v0, tol=tol, ncv=None, maxiter=maxiter, timings=timings
        )
        return w, x, sigma
    factor = _factorizer(name)
    with limit_bundled_blas():
        if tight is not None:
            try:
                w, x = _run_shift_invert(
                    h,
                    m,
                    k,
                    tight,
                    factor,
                    v0=v0,
                    tol=tol,
                    ncv=None,
                    maxiter=maxiter,
                    timings=timings,
                )
                return w, x, tight
            except Exception as exc:  # CHOLMOD: not positive definite -> shift not below
                if not is_not_positive_definite(exc):
                    raise
                timings["tight_shift_rejected"] = 1.0
        try:
            w, x = _run_shift_invert(
                h, m, k, sigma, factor, v0=v0, tol=tol, ncv=None, maxiter=maxiter, timings=timings
            )
        except Exception as exc:
            if not is_not_positive_definite(exc):
                raise
            raise EigenSolverError(
                f"the shift {sigma:.6g} meV is not below the spectrum: H - shift * M is not "
                "positive definite (CHOLMOD). Give shift_meV below the lowest eigenvalue, or "
                "check that the mass matrix and the kinetic coefficients are positive"
            ) from exc
    gc.collect()
    return w, x, sigma


def _gershgorin_lower_bound(h: Any, m: Any) -> float:
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


def _refined_lower_bound(
    operators: KPOperators, h: Any, backend: str, bound: float
) -> float | None:
    """Tighter rigorous lower bound from the single-component (real) problem.

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
        hs = _real_part(hs)
    ms = operators.mass_scalar
    scalar_bound = bound - operators.constant_min_eig_meV
    sigma = scalar_bound - 1e-3 * max(1.0, abs(scalar_bound))
    factor = _factorizer(backend)
    timings: dict[str, float] = {}
    with limit_bundled_blas():
        w, x = _run_shift_invert(
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
    res = _relative_residuals(hs, ms, w, x)
    if not res[0] < 1e-6:
        return None
    # the Ritz value is an upper bound of the discrete e0 only up to its residual: keep a margin
    e0 -= 10 * res[0] * max(1.0, abs(e0))
    refined = e0 + operators.constant_min_eig_meV
    # stay a little below the bound: it is attained for uniform C, where H - sigma M is singular
    margin = 0.05 * max(e0 - scalar_bound, 1e-2)
    return refined - margin if refined - margin > bound else None


def solve(
    operators: KPOperators,
    *,
    k: int,
    scales: Mapping[str, float] | None = None,
    backend: Backend = "auto",
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
    name = _resolve_backend(backend)
    t0 = time.perf_counter()
    refined = None
    if shift_meV is None and warm_start is None and auto_refine_shift:
        refined = _refined_lower_bound(operators, h, name, bound)
    t_refine = time.perf_counter() - t0
    result = solve_matrices(
        h,
        operators.mass,
        k=k,
        n_components=operators.n_components,
        backend=backend,
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
    backend : str
        Backend of the full solves and of the factorisation ("cholmod" or "superlu"; other
        backends solve every point in full).
    residual_tol : float
        Acceptance test of every returned pair (as in :func:`solve_matrices`).
    """

    def __init__(
        self,
        operators: KPOperators,
        *,
        k: int,
        guard: int = 4,
        backend: Backend = "auto",
        residual_tol: float = 1e-8,
        shift_below_meV: float = 0.3,
        maxiter: int = 40,
    ) -> None:
        self.operators = operators
        self.k = int(k)
        self.guard = int(guard)
        self.backend = _resolve_backend(backend)
        _validate_k(self.k + self.guard, operators.ndof, self.backend)
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
            backend=self.backend,  # type: ignore[arg-type]
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
        if self.backend in ("cholmod", "superlu"):
            self._sigma = float(full.energies_meV[0]) - self.shift_below_meV
            factor = _factorizer(self.backend)
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
        res = _relative_residuals(h, m, w[: self.k], x[:, : self.k])
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
            residuals=_relative_residuals(h, self.operators.mass, energies[:k], x),
            backend=f"{self.backend}+sweep",
            shift_meV=shift,
            timings_s=timings,
        )
