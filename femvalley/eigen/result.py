"""The result of an eigensolve, and the error raised when none can be trusted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["EigenResult", "EigenSolverError"]


class EigenSolverError(RuntimeError):
    """The eigensolver did not converge to the requested accuracy, even after a retry."""


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
