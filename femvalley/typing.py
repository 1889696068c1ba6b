"""Types of the objects femvalley passes around, so that mypy checks how they are used.

scikit-fem and SciPy ship without type information, so their meshes, bases and sparse
matrices are ``Any`` to mypy and a misspelt attribute would pass. These protocols name what
femvalley uses of them: an object of the library satisfies them at run time (they are
structural), and mypy checks every use against them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, overload, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Basis",
    "DofSet",
    "Element",
    "Field",
    "Indices",
    "Mesh",
    "Solve",
    "SparseMatrix",
]

#: integer index arrays of scikit-fem (cells, facets, DOFs): int32 or int64 by origin
Indices = NDArray[np.integer[Any]]

#: rows or columns of a sparse matrix: ``a[rows]``, ``a[:, columns]``, ``a[:n, :n]``
_SparseKey = slice | Indices | tuple[slice | Indices, slice | Indices]

#: a factorised linear solve ``b -> A^-1 b`` (vector or block of columns)
Solve = Callable[[NDArray[Any]], NDArray[Any]]


@runtime_checkable
class Mesh(Protocol):
    """A scikit-fem mesh: vertices (dim, N) in nm, cells, named regions and boundaries."""

    def __init__(self, doflocs: NDArray[np.float64], t: Indices) -> None:
        """Build a mesh of the same type from vertices (dim, N) and cells (``type(mesh)(p, t)``).

        mypy does not compare constructors structurally: this only types the call.
        """

    @property
    def p(self) -> NDArray[np.float64]:
        """Vertex coordinates, shape (dim, nvertices), nm."""

    @property
    def t(self) -> Indices:
        """Vertex indices of each cell, shape (nodes per cell, ncells)."""

    @property
    def facets(self) -> Indices:
        """Vertex indices of each facet, shape (nodes per facet, nfacets)."""

    @property
    def nvertices(self) -> int:
        """Number of vertices."""

    @property
    def nelements(self) -> int:
        """Number of cells."""

    @property
    def subdomains(self) -> Mapping[str, Indices] | None:
        """Cell indices of every named region (``dot_L``, ``well``, ...)."""

    @property
    def boundaries(self) -> Mapping[str, Indices] | None:
        """Facet indices of every named boundary (gate surfaces, ...)."""

    def dim(self) -> int:
        """Spatial dimension (2 or 3)."""

    def with_subdomains(
        self, subdomains: Mapping[str, Indices | Callable[[NDArray[np.float64]], NDArray[np.bool_]]]
    ) -> Mesh:
        """Return the same mesh with named regions: cell indices, or a test of cell centres."""


@runtime_checkable
class Element(Protocol):
    """A scikit-fem finite element."""

    @property
    def maxdeg(self) -> int:
        """Polynomial degree."""


@runtime_checkable
class DofSet(Protocol):
    """A set of degrees of freedom of a basis (``basis.get_dofs(...)``)."""

    def all(self) -> Indices:
        """Return the indices of all its degrees of freedom."""


@runtime_checkable
class Basis(Protocol):
    """A scikit-fem cell basis: the element space the k.p problem is discretised in."""

    @property
    def mesh(self) -> Mesh:
        """The mesh of the basis."""

    @property
    def N(self) -> int:
        """Number of degrees of freedom."""

    @property
    def doflocs(self) -> NDArray[np.float64]:
        """Coordinates of every degree of freedom, shape (dim, N), nm."""

    @property
    def elem(self) -> Element:
        """The element (``maxdeg``: its polynomial degree)."""

    @property
    def nelems(self) -> int:
        """Number of cells the basis is defined on."""

    @property
    def tind(self) -> Indices | None:
        """Mesh cells of the basis (``None``: all of them, in order)."""

    @property
    def X(self) -> NDArray[np.float64]:
        """Quadrature points on the reference cell, shape (dim, nqp)."""

    @property
    def dx(self) -> NDArray[np.float64]:
        """Quadrature weights times the Jacobian determinant, shape (nelems, nqp)."""

    @property
    def Nbfun(self) -> int:
        """Number of basis functions per cell."""

    @property
    def basis(self) -> Sequence[Sequence[NDArray[np.float64]]]:
        """``basis[i][0]``: values of local basis function ``i`` at the quadrature points."""

    @property
    def element_dofs(self) -> Indices:
        """Degrees of freedom of every cell, shape (Nbfun, nelems)."""

    def interpolate(self, values: NDArray[Any]) -> NDArray[Any]:
        """Return the finite-element function of DOF ``values`` at the quadrature points."""

    def global_coordinates(self) -> NDArray[np.float64]:
        """Coordinates of the quadrature points, shape (dim, nelems, nqp), nm."""

    def get_dofs(self, facets: Indices | None = None) -> DofSet:
        """Degrees of freedom on ``facets`` (all boundary facets by default)."""

    def with_element(self, elem: Element) -> Basis:
        """Return the same mesh and quadrature with another element."""

    def with_elements(self, elements: Indices) -> Basis:
        """Return the basis restricted to the cells ``elements``."""


@runtime_checkable
class Field(Protocol):
    """A field at the quadrature points, as a form receives it (scikit-fem ``DiscreteField``).

    An array of values, shape (nelems, nqp), with the derivatives of a basis function.
    """

    @property
    def grad(self) -> NDArray[np.float64]:
        """Gradient, shape (dim, nelems, nqp)."""

    def __array__(self) -> NDArray[Any]: ...

    def __mul__(self, other: ArrayLike) -> NDArray[Any]:
        """Pointwise product."""


@runtime_checkable
class SparseMatrix(Protocol):
    """A SciPy sparse matrix (any format)."""

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""

    @property
    def dtype(self) -> np.dtype[Any]:
        """Entry type."""

    @property
    def real(self) -> SparseMatrix:
        """Real part."""

    @property
    def T(self) -> SparseMatrix:
        """Transpose."""

    @overload
    def __matmul__(self, other: NDArray[Any]) -> NDArray[Any]: ...
    @overload
    def __matmul__(self, other: SparseMatrix) -> SparseMatrix: ...

    def __add__(self, other: SparseMatrix) -> SparseMatrix:
        """Sum."""

    def __sub__(self, other: SparseMatrix) -> SparseMatrix:
        """Difference."""

    def __rmul__(self, other: complex) -> SparseMatrix:
        """Product with a number."""

    def __getitem__(self, key: _SparseKey) -> SparseMatrix:
        """Rows and columns: ``a[rows][:, columns]``, ``a[:n, :n]`` (index arrays or slices)."""

    def conj(self) -> SparseMatrix:
        """Complex conjugate."""

    def tocsr(self) -> SparseMatrix:
        """Return the same matrix in CSR format."""

    def tocsc(self) -> SparseMatrix:
        """Return the same matrix in CSC format."""
