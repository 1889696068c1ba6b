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

Names are the configuration-facing interface. Inside, a backend is a small object satisfying
:class:`EigenBackend`, made once by a factory and then passed around; :func:`solve`,
:func:`solve_matrices` and :class:`SweepSolver` take either a name or such an object (a test
can swap in a dense solver, or wrap one to count its calls):

:func:`make_backend` (``backend="auto"``)
    The backend object a name means here; ``"auto"`` is resolved at this call, once. An
    unknown name, or ``"cholmod"`` without scikit-sparse, raises ``ValueError``; an object is
    returned as it is.
:func:`shift_invert_backend` (``factorization="superlu"``)
    Shift-invert Lanczos on ``"cholmod"``, ``"superlu"`` or SciPy's own ``"eigsh"``.
:func:`lobpcg_backend` ()
    LOBPCG with the AMG preconditioner.
:func:`dense_backend` ()
    ``scipy.linalg.eigh``, at most :data:`DENSE_MAX_DOF` degrees of freedom.
:class:`EigenBackend`
    The protocol: ``name`` (str, reported in :attr:`EigenResult.backend`), ``uses_shift``
    (bool: whether the driver places a shift below the spectrum and retries a failed solve)
    and a call ``backend(h, m, k, *, sigma, tight, n_components, v0, tol, maxiter, timings)``
    returning ``(energies_meV, vectors, shift_meV)`` of the lowest ``k`` pairs.

Every result is checked: the relative residual ``||H x - E M x|| / (||H x|| + |E| ||M x||)`` of
each pair must be below ``residual_tol``. If it is not, the solve of a backend that uses a shift
(every one but dense, and any object with ``uses_shift`` true) is retried once with a more
robust setting (SuperLU, larger Krylov space, more iterations, a random start), and then a
:class:`EigenSolverError` is raised. Unconverged states are never returned.

Examples
--------
>>> from femvalley.eigen import dense_backend, solve
>>> res = solve(ops, k=4, backend=dense_backend())  # doctest: +SKIP
"""

from femvalley.eigen.backends import (
    BACKENDS,
    DENSE_MAX_DOF,
    Backend,
    EigenBackend,
    available_backends,
    dense_backend,
    factor_backend,
    lobpcg_backend,
    make_backend,
    shift_invert_backend,
)
from femvalley.eigen.driver import solve, solve_matrices
from femvalley.eigen.result import EigenResult, EigenSolverError
from femvalley.eigen.sweep import SweepSolver

__all__ = [
    "BACKENDS",
    "DENSE_MAX_DOF",
    "Backend",
    "EigenBackend",
    "EigenResult",
    "EigenSolverError",
    "SweepSolver",
    "available_backends",
    "dense_backend",
    "factor_backend",
    "lobpcg_backend",
    "make_backend",
    "shift_invert_backend",
    "solve",
    "solve_matrices",
]
