"""Sparse factorisations, BLAS thread pools, M-orthonormal helpers: one place for all three.

femvalley factorises three kinds of sparse symmetric positive definite (or Hermitian)
matrices: shift-inverted Hamiltonians (:mod:`femvalley.eigen`), mass matrices (the
certificates of :mod:`femvalley.rb`) and the Poisson operator
(:mod:`femvalley.electrostatics`). :func:`factorize` uses CHOLMOD (scikit-sparse, an optional
extra) where it is installed and SciPy's SuperLU otherwise, with the options measured best
here (``MMD_AT_PLUS_A``, no pivoting, symmetric mode: 1.2-1.4x faster than SuperLU's default).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import NDArray

__all__ = [
    "FACTOR_BACKENDS",
    "FactorBackend",
    "cholmod_available",
    "component_weights",
    "factorize",
    "is_not_positive_definite",
    "limit_bundled_blas",
    "m_orthonormalize",
    "serial_blas",
]

FactorBackend = Literal["auto", "cholmod", "superlu"]
#: what :func:`factorize` accepts
FACTOR_BACKENDS = ("auto", "cholmod", "superlu")


def cholmod_available() -> bool:
    """Whether scikit-sparse (CHOLMOD) is installed."""
    return importlib.util.find_spec("sksparse") is not None


def factorize(
    a: Any, *, backend: str = "auto", ordering: Literal["nesdis", "default"] = "nesdis"
) -> Callable[[NDArray[Any]], NDArray[Any]]:
    """Factorise a sparse symmetric (Hermitian) positive definite matrix; return its solve.

    Parameters
    ----------
    a : sparse matrix
    backend : {"auto", "cholmod", "superlu"}
        ``"auto"``: CHOLMOD where installed, else SuperLU.
    ordering : {"nesdis", "default"}
        CHOLMOD's fill-reducing ordering: nested dissection (1.7-1.9x faster than AMD for
        the 3-D k.p operators here; CHOLMOD's own choice where it was built without METIS),
        or CHOLMOD's default. SuperLU always uses ``MMD_AT_PLUS_A``.

    Returns
    -------
    callable
        ``solve(b)`` for a vector or a block of columns; CHOLMOD's output is copied (an
        eigensolver that keeps it must not keep the factor's buffers alive).
    """
    if backend not in FACTOR_BACKENDS:
        raise ValueError(f"backend = {backend!r}; allowed: {', '.join(FACTOR_BACKENDS)}")
    if backend == "cholmod" and not cholmod_available():
        raise ValueError(
            "backend = 'cholmod' needs scikit-sparse (pip install 'femvalley[cholmod]', which "
            "needs Debian's libsuitesparse-dev); use 'superlu' or 'auto'"
        )
    if backend == "superlu" or not cholmod_available():
        lu = spla.splu(
            sp.csc_matrix(a),
            permc_spec="MMD_AT_PLUS_A",
            diag_pivot_thresh=0.0,
            options={"SymmetricMode": True},
        )
        return lu.solve
    factor = _cholmod_factor(a, ordering)

    def solve(b: NDArray[Any]) -> NDArray[Any]:
        return np.array(factor(b), copy=True)

    return solve


def _cholmod_factor(a: Any, ordering: str) -> Any:
    from sksparse.cholmod import CholmodError, cholesky

    if ordering == "default":
        return cholesky(sp.csc_matrix(a))
    try:
        return cholesky(sp.csc_matrix(a), ordering_method="nesdis")
    except CholmodError as exc:  # CHOLMOD built without METIS: its default ordering
        if is_not_positive_definite(exc):
            raise
        return cholesky(sp.csc_matrix(a))


def is_not_positive_definite(exc: Exception) -> bool:
    """Whether a factorisation failed because the matrix is not positive definite."""
    return (
        type(exc).__name__ == "CholmodNotPositiveDefiniteError"
        or "positive definite" in str(exc).lower()
    )


def serial_blas() -> AbstractContextManager[Any]:
    """Run every BLAS pool on one thread inside the ``with`` block.

    For loops of small dense problems (reduced-basis points, anticrossing root finding): a
    demo BO-2D reduced point (``2m = 120``) took 14.3 ms with the default two-thread pools and
    1.4 ms on one thread, on an idle 2-core machine (24.9 ms against 1.4 ms with one core
    busy; ``benchmarks/bench_blas_threads.py``).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return nullcontext()
    # threadpoolctl limits the libraries loaded when the block starts: CHOLMOD brings the
    # system's BLAS with it, so load it now, or the first solve of a process would run on
    # that BLAS's full pool (and round differently from every later one)
    if cholmod_available():
        import sksparse.cholmod  # noqa: F401 - imported for its side effect (its BLAS)
    return threadpool_limits(limits=1, user_api="blas")


def limit_bundled_blas() -> AbstractContextManager[Any]:
    """Limit the BLAS copies bundled in numpy/scipy wheels to one thread.

    ARPACK runs on scipy's bundled OpenBLAS while CHOLMOD runs on the system BLAS; two spinning
    thread pools on two cores slowed shift-invert solves 3-4x here (benchmarks/RESULTS.md).
    """
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return nullcontext()
    controller = ThreadpoolController()
    bundled = [
        lib.filepath
        for lib in controller.lib_controllers
        if lib.user_api == "blas" and ("numpy.libs" in lib.filepath or "scipy.libs" in lib.filepath)
    ]
    if not bundled:
        return nullcontext()
    return controller.select(filepath=bundled).limit(limits=1)


def m_orthonormalize(m: Any, x: NDArray[Any]) -> NDArray[Any]:
    """Columns of ``x`` made orthonormal in the ``M`` inner product (Cholesky of the Gram)."""
    g = x.conj().T @ (m @ x)
    g = 0.5 * (g + g.conj().T)
    lc = np.linalg.cholesky(g)
    return np.asarray(np.linalg.solve(lc.conj(), x.T).T)


def component_weights(m: Any, x: NDArray[Any], n: int) -> NDArray[np.float64]:
    """Weight ``x_p^H M_p x_p`` of each of ``n`` stacked components of every column of ``x``.

    ``x`` (n * ni, k) holds the components one after the other; ``m`` is block diagonal with
    ``n`` equal blocks. Returns (k, n).
    """
    ndof = x.shape[0]
    ni = ndof // n
    mx = m @ x
    w = np.empty((x.shape[1], n))
    for p in range(n):
        sl = slice(p * ni, (p + 1) * ni)
        w[:, p] = np.real(np.einsum("ik,ik->k", x[sl].conj(), mx[sl]))
    return w
