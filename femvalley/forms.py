"""The bilinear forms of femvalley, named after the physics they assemble.

scikit-fem assembles a matrix from a form and a basis: ``skfem.asm(mass, basis)``. Every
matrix femvalley builds comes from one of these:

- :data:`mass`: ``int phi_i phi_j`` (the overlap of states; the norm);
- :data:`weighted_mass`, :data:`complex_weighted_mass`: ``int f phi_i phi_j`` for a field
  ``f`` at the quadrature points (``weight=``): the potential energy ``U``, a potential term
  (the detuning), a moment ``x`` or ``x^2`` of the density, the valley coupling ``Delta``
  (complex: the form is bilinear, not sesquilinear, so the block is complex symmetric);
- :func:`kinetic`: ``sum_ab int c_ab d_a phi_i d_b phi_j`` for the inverse-mass tensor's
  pairs ``(a, b)`` (``c0``, ``c1``, ... at the quadrature points);
- :data:`dielectric_laplace`: ``int eps_r grad phi_i . grad phi_j`` (``eps=``), the Poisson
  operator of the gate electrostatics.

Forms are bilinear: a complex weight gives a complex symmetric matrix, whose Hermitian
partner in a block operator is its conjugate transpose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from skfem import BilinearForm
from skfem.helpers import dot, grad

from femvalley.typing import Field

__all__ = [
    "complex_weighted_mass",
    "dielectric_laplace",
    "kinetic",
    "mass",
    "minimal_coupling",
    "weighted_mass",
]


@BilinearForm
def mass(u: Field, v: Field, w: Mapping[str, Any]) -> NDArray[Any]:
    """``int phi_i phi_j``."""
    return u * v


@BilinearForm
def weighted_mass(u: Field, v: Field, w: Mapping[str, Any]) -> NDArray[Any]:
    """``int f phi_i phi_j`` for a real field ``f`` (``weight=`` at the quadrature points)."""
    return w["weight"] * u * v


@BilinearForm(dtype=np.complex128)
def complex_weighted_mass(u: Field, v: Field, w: Mapping[str, Any]) -> NDArray[Any]:
    """``int f phi_i phi_j`` for a complex field ``f`` (complex symmetric, not Hermitian)."""
    return w["weight"] * u * v


@BilinearForm
def dielectric_laplace(u: Field, v: Field, w: Mapping[str, Any]) -> NDArray[Any]:
    """``int eps_r grad phi_i . grad phi_j`` (``eps=``: relative permittivity)."""
    return w["eps"] * dot(grad(u), grad(v))


def kinetic(pairs: Sequence[tuple[int, int]]) -> Any:
    """``sum_k int c_k (d_a phi_i d_b phi_j + d_b phi_i d_a phi_j) / 2`` over ``pairs``.

    ``pairs[k] = (a, b)``: the axes of the ``k``-th term of the inverse-mass tensor; its
    coefficient (meV nm^2) is the keyword ``c{k}`` of ``asm``. A diagonal pair is
    ``int c d_a phi_i d_a phi_j``.
    """
    terms = tuple(pairs)

    @BilinearForm
    def form(u: Field, v: Field, w: Mapping[str, Any]) -> NDArray[Any] | float:
        out: NDArray[Any] | float = 0.0
        for k, (a, b) in enumerate(terms):
            c = w[f"c{k}"]
            if a == b:
                out = out + c * u.grad[a] * v.grad[a]
            else:
                out = out + 0.5 * c * (u.grad[a] * v.grad[b] + u.grad[b] * v.grad[a])
        return out

    return form


def minimal_coupling(axis: int) -> Any:
    """``i int c a (d_axis phi_i phi_j - phi_i d_axis phi_j)``: the k-linear term of a field.

    The kinetic energy ``(k + a) c (k + a)`` along ``axis`` with ``a = (e / hbar) A_axis``
    (nm^-1; keyword ``a`` of ``asm``, with ``c`` in meV nm^2) has this first-order part,
    purely imaginary and antisymmetric (so Hermitian), and the second-order part
    ``int c a^2 phi_i phi_j`` (:data:`weighted_mass`).
    """

    @BilinearForm(dtype=np.complex128)
    def form(u: Field, v: Field, w: Mapping[str, Any]) -> NDArray[Any]:
        return np.asarray(1j * w["c"] * w["a"] * (v.grad[axis] * u - v * u.grad[axis]))

    return form
