"""Types of the objects femvalley passes around, so that mypy checks how they are used.

scikit-fem and SciPy ship without type information, so their meshes, bases and sparse
matrices are ``Any`` to mypy and a misspelt attribute would pass. These protocols name what
femvalley uses of them: an object of the library satisfies them at run time (they are
structural), and mypy checks every use against them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

__all__ = ["Basis", "Mesh", "SparseMatrix"]


@runtime_checkable
class Mesh(Protocol):
    """A scikit-fem mesh: vertices (dim, N) in nm, cells, named regions and boundaries."""

    @property
    def p(self) -> NDArray[np.float64]:
        """Vertex coordinates, shape (dim, nvertices), nm."""

    @property
    def t(self) -> NDArray[np.int64]:
        """Vertex indices of each cell, shape (nodes per cell, ncells)."""

    @property
    def nvertices(self) -> int:
        """Number of vertices."""

    @property
    def nelements(self) -> int:
        """Number of cells."""

    @property
    def subdomains(self) -> Mapping[str, NDArray[np.int64]] | None:
        """Cell indices of every named region (``dot_L``, ``well``, ...)."""

    @property
    def boundaries(self) -> Mapping[str, Any] | None:
        """Facet indices of every named boundary (gate surfaces, ...)."""


@runtime_checkable
class Basis(Protocol):
    """A scikit-fem cell basis: the element space the k.p problem is discretised in."""

    @property
    def mesh(self) -> Any:
        """The mesh of the basis (a :class:`Mesh`)."""

    @property
    def N(self) -> int:
        """Number of degrees of freedom."""

    @property
    def doflocs(self) -> NDArray[np.float64]:
        """Coordinates of every degree of freedom, shape (dim, N), nm."""

    @property
    def elem(self) -> Any:
        """The element (``maxdeg``: its polynomial degree)."""

    def interpolate(self, values: NDArray[Any]) -> Any:
        """Return the finite-element function of DOF ``values`` at the quadrature points."""


@runtime_checkable
class SparseMatrix(Protocol):
    """A SciPy sparse matrix (any format)."""

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""

    @property
    def dtype(self) -> np.dtype[Any]:
        """Entry type."""

    def __matmul__(self, other: Any) -> Any:
        """Matrix product with a vector, a block of vectors or another sparse matrix."""

    def tocsr(self) -> Any:
        """Return the same matrix in CSR format."""
