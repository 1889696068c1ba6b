"""The eigensolver backends: shift-invert Lanczos on a sparse factorisation, LOBPCG with AMG, dense.

A backend is a small object satisfying :class:`EigenBackend` (a ``name`` and a call returning
the lowest ``k`` pairs), made by a factory: :func:`shift_invert_backend`,
:func:`lobpcg_backend`, :func:`dense_backend`, or :func:`make_backend` from a name. The
shift-invert backends try their tight shift first and the safe one as a fallback. See
:mod:`femvalley.eigen` for the list and how ``"auto"`` chooses.
"""

from __future__ import annotations

import functools
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import NDArray

from femvalley.eigen.result import EigenSolverError
from femvalley.linalg import (
    cholmod_available,
    factorize,
    is_not_positive_definite,
    limit_bundled_blas,
)

__all__ = [
    "BACKENDS",
    "Backend",
    "DENSE_MAX_DOF",
    "DenseBackend",
    "EigenBackend",
    "LobpcgBackend",
    "ShiftInvertBackend",
    "available_backends",
    "dense",
    "dense_backend",
    "factor_backend",
    "factorizer",
    "lobpcg",
    "lobpcg_backend",
    "make_backend",
    "real_part",
    "relative_residuals",
    "resolve_backend",
    "shift_invert",
    "shift_invert_backend",
    "sparse_factorization",
    "validate_k",
]

Backend = Literal["auto", "cholmod", "superlu", "lobpcg", "eigsh", "dense"]
#: every backend name :func:`femvalley.eigen.solve` accepts
BACKENDS = ("auto", "cholmod", "superlu", "lobpcg", "eigsh", "dense")


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
    return "cholmod" if resolve_backend(backend) == "cholmod" else "superlu"


def factorizer(name: str) -> Callable[[Any], Callable[[NDArray[Any]], NDArray[Any]]]:
    """Return ``a -> solve``: CHOLMOD for ``"cholmod"``, SuperLU for anything else."""
    return functools.partial(factorize, backend="cholmod" if name == "cholmod" else "superlu")


def relative_residuals(
    h: Any, m: Any, energies: NDArray[np.float64], x: NDArray[Any]
) -> NDArray[np.float64]:
    """Return ``||H x - E M x|| / (||H x|| + |E| ||M x||)`` of every pair."""
    hx = h @ x
    mx = m @ x
    r = hx - mx * energies[None, :]
    denom = np.linalg.norm(hx, axis=0) + np.abs(energies) * np.linalg.norm(mx, axis=0)
    denom = np.where(denom > 0, denom, 1.0)
    return np.asarray(np.linalg.norm(r, axis=0) / denom)


def shift_invert(
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
    """Return the lowest ``k`` pairs by shift-invert Lanczos (ARPACK) around ``sigma``.

    ``factor``: ``a -> solve`` for ``H - sigma M`` (:func:`factorizer`), or ``None`` for
    SciPy's own solver (the ``"eigsh"`` backend).
    """
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


def real_part(a: Any) -> Any:
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
        blk = real_part(blk) if np.iscomplexobj(blk.data) else blk
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


def lobpcg(
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
    """Return the lowest ``k`` pairs by LOBPCG preconditioned with smoothed-aggregation AMG."""
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


def dense(h: Any, m: Any, k: int) -> tuple[NDArray[np.float64], NDArray[Any]]:
    """Return the lowest ``k`` pairs of the dense problem (``scipy.linalg.eigh``; small tests)."""
    import scipy.linalg as la

    hd = h.toarray() if sp.issparse(h) else np.asarray(h)
    md = m.toarray() if sp.issparse(m) else np.asarray(m)
    w, x = la.eigh(hd, md, subset_by_index=(0, k - 1))
    return np.asarray(w, dtype=float), np.asarray(x)


DENSE_MAX_DOF = 20000


def validate_k(k: int, ndof: int, backend: str) -> None:
    """Refuse a state count that is not an integer in ``1 .. ndof - 1`` (dense: ``ndof``)."""
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


def resolve_backend(backend: str) -> str:
    """Return the backend ``backend`` means here (``"auto"``: CHOLMOD, else SuperLU)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend = {backend!r}; allowed: {', '.join(BACKENDS)}")
    if backend == "auto":
        return "cholmod" if "cholmod" in available_backends() else "superlu"
    if backend == "cholmod" and "cholmod" not in available_backends():
        raise ValueError(
            "backend = 'cholmod' needs scikit-sparse (pip install 'femvalley[cholmod]', which "
            "needs Debian's libsuitesparse-dev); use 'superlu' or 'auto'"
        )
    return backend


@runtime_checkable
class EigenBackend(Protocol):
    """An eigensolver backend: the lowest ``k`` eigenpairs of ``H x = E M x``.

    Made by :func:`make_backend` or a factory, or any object with these members (a test can
    wrap one to count its calls, or swap in a dense solver).
    """

    @property
    def name(self) -> str:
        """Name in :attr:`EigenResult.backend` and in errors (``"dense"``: the dense limits)."""

    @property
    def uses_shift(self) -> bool:
        """Whether the driver places a shift below the spectrum and retries a failed solve.

        ``True``: the call gets ``sigma`` (and maybe ``tight``), and a result that fails the
        residual check is retried once by robust SuperLU shift-invert. ``False`` (a direct
        solver such as dense): ``sigma`` is ``nan`` and the result is only checked.
        """

    def __call__(
        self,
        h: Any,
        m: Any,
        k: int,
        *,
        sigma: float,
        tight: float | None,
        n_components: int,
        v0: NDArray[Any] | None,
        tol: float,
        maxiter: int | None,
        timings: dict[str, float],
    ) -> tuple[NDArray[np.float64], NDArray[Any], float]:
        """Return the lowest ``k`` energies (meV, increasing), their vectors and the shift used.

        Parameters
        ----------
        h, m : sparse matrices
            Hamiltonian (meV) and mass matrix (csr).
        k : int
            Number of pairs.
        sigma : float
            Shift (meV) below the spectrum (``nan`` if the backend does not use a shift).
        tight : float or None
            A shift (meV) closer to the spectrum to try first, or ``None``.
        n_components : int
            Components of the component-major layout (for block preconditioners).
        v0 : ndarray or None
            Starting vector (a warm start).
        tol : float
            Convergence tolerance of the iteration (0: the method's default).
        maxiter : int or None
            Iteration limit.
        timings : dict
            Wall times (s) to add to, e.g. ``"factorize"`` and ``"iterate"``.
        """


@dataclass(frozen=True)
class ShiftInvertBackend:
    """Shift-invert Lanczos (ARPACK) on a sparse factorisation of ``H - sigma M``.

    ``factorization``: ``"cholmod"`` or ``"superlu"`` (:func:`factorizer`), or ``"eigsh"`` for
    SciPy's own solver inside ``eigsh`` (the plain reference, which ignores ``tight``). Made
    by :func:`shift_invert_backend`.
    """

    factorization: Literal["cholmod", "superlu", "eigsh"]
    uses_shift = True

    @property
    def name(self) -> str:
        """The factorisation's name (``"cholmod"``, ``"superlu"`` or ``"eigsh"``)."""
        return self.factorization

    def __call__(
        self,
        h: Any,
        m: Any,
        k: int,
        *,
        sigma: float,
        tight: float | None,
        n_components: int,
        v0: NDArray[Any] | None,
        tol: float,
        maxiter: int | None,
        timings: dict[str, float],
    ) -> tuple[NDArray[np.float64], NDArray[Any], float]:
        """Run with the ``tight`` shift first when given (CHOLMOD proves it), else ``sigma``."""
        if self.factorization == "eigsh":
            w, x = shift_invert(
                h, m, k, sigma, None, v0=v0, tol=tol, ncv=None, maxiter=maxiter, timings=timings
            )
            return w, x, sigma
        factor = factorizer(self.factorization)
        with limit_bundled_blas():
            if tight is not None:
                try:
                    w, x = shift_invert(
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
                w, x = shift_invert(
                    h,
                    m,
                    k,
                    sigma,
                    factor,
                    v0=v0,
                    tol=tol,
                    ncv=None,
                    maxiter=maxiter,
                    timings=timings,
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


@dataclass(frozen=True)
class LobpcgBackend:
    """LOBPCG on ``H - sigma M`` preconditioned with AMG (:func:`lobpcg`); ignores ``tight``.

    Made by :func:`lobpcg_backend`.
    """

    name = "lobpcg"
    uses_shift = True

    def __call__(
        self,
        h: Any,
        m: Any,
        k: int,
        *,
        sigma: float,
        tight: float | None,
        n_components: int,
        v0: NDArray[Any] | None,
        tol: float,
        maxiter: int | None,
        timings: dict[str, float],
    ) -> tuple[NDArray[np.float64], NDArray[Any], float]:
        """Run LOBPCG around ``sigma`` (``tol = 0``: 1e-8 absolute; ``maxiter`` 2000 by default)."""
        x0 = None if v0 is None else v0[:, None]
        # LOBPCG's tolerance is absolute on ||A x - lambda M x|| with M-normalised x; with
        # nm/meV units, 1e-8 gives relative residuals of about 1e-10 (benchmarks/RESULTS.md)
        lobpcg_tol = 1e-8
        w, x = lobpcg(
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


@dataclass(frozen=True)
class DenseBackend:
    """``scipy.linalg.eigh`` on dense matrices (:func:`dense`), for tiny problems and tests.

    Uses no shift (the returned shift is ``nan``) and is not retried. Made by
    :func:`dense_backend`.
    """

    name = "dense"
    uses_shift = False

    def __call__(
        self,
        h: Any,
        m: Any,
        k: int,
        *,
        sigma: float,
        tight: float | None,
        n_components: int,
        v0: NDArray[Any] | None,
        tol: float,
        maxiter: int | None,
        timings: dict[str, float],
    ) -> tuple[NDArray[np.float64], NDArray[Any], float]:
        """Return all of the lowest ``k`` pairs at once; the iteration options are ignored."""
        w, x = dense(h, m, k)
        return w, x, float("nan")


def shift_invert_backend(
    factorization: Literal["cholmod", "superlu", "eigsh"] = "superlu",
) -> ShiftInvertBackend:
    """Return the shift-invert Lanczos backend on ``factorization`` (see :class:`EigenBackend`).

    Raises ``ValueError`` for another value, and for ``"cholmod"`` without scikit-sparse.
    """
    if factorization not in ("cholmod", "superlu", "eigsh"):
        raise ValueError(f"factorization = {factorization!r}; allowed: cholmod, superlu, eigsh")
    resolve_backend(factorization)  # CHOLMOD must be installed
    return ShiftInvertBackend(factorization)


def lobpcg_backend() -> LobpcgBackend:
    """Return the LOBPCG backend with a smoothed-aggregation AMG preconditioner (pyamg)."""
    return LobpcgBackend()


def dense_backend() -> DenseBackend:
    """Return the dense backend (``scipy.linalg.eigh``; up to :data:`DENSE_MAX_DOF` DOFs)."""
    return DenseBackend()


def make_backend(backend: str | EigenBackend = "auto") -> EigenBackend:
    """Return the backend object a name means here; a backend object is returned as it is.

    ``"auto"`` is resolved now, once: CHOLMOD when scikit-sparse is installed, else SuperLU.
    An unknown name, or ``"cholmod"`` without scikit-sparse, raises ``ValueError`` (as
    :func:`resolve_backend`).
    """
    if isinstance(backend, EigenBackend):
        return backend
    name = resolve_backend(backend)
    if name == "lobpcg":
        return lobpcg_backend()
    if name == "dense":
        return dense_backend()
    if name == "cholmod":
        return shift_invert_backend("cholmod")
    if name == "eigsh":
        return shift_invert_backend("eigsh")
    return shift_invert_backend("superlu")


def sparse_factorization(backend: EigenBackend) -> Literal["cholmod", "superlu"] | None:
    """Return the sparse factorisation of a CHOLMOD or SuperLU shift-invert backend, else None.

    The driver trusts a warm start's tight shift only with CHOLMOD (a failed Cholesky
    factorisation proves it is not below the spectrum); the refined lower bound and the
    sweep's fixed preconditioner reuse the factorisation.
    """
    f = backend.factorization if isinstance(backend, ShiftInvertBackend) else None
    return "cholmod" if f == "cholmod" else "superlu" if f == "superlu" else None
