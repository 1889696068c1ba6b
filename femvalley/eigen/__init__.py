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

from femvalley.eigen.backends import (
    BACKENDS,
    DENSE_MAX_DOF,
    Backend,
    available_backends,
    factor_backend,
)
from femvalley.eigen.driver import solve, solve_matrices
from femvalley.eigen.result import EigenResult, EigenSolverError
from femvalley.eigen.sweep import SweepSolver

__all__ = [
    "BACKENDS",
    "DENSE_MAX_DOF",
    "Backend",
    "EigenResult",
    "EigenSolverError",
    "SweepSolver",
    "available_backends",
    "factor_backend",
    "solve",
    "solve_matrices",
]
